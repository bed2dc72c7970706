/**
 * Ensemble bundles: several member bundles run as one graph in one session, their scores combined per tag.
 * Members may differ in architecture, input size, layout and normalisation: the graph takes one input per
 * distinct preprocessing (members sharing one share the input) and each member reads exactly what it reads alone.
 */
import { TagbooruError } from '../errors.ts';
import { decodeModel } from '../graph/index.ts';
import type { ModelProto, ValueInfoProto } from '../graph/proto.ts';
import { encodeModel } from '../graph/surgery.ts';
import type { PreprocessSpec } from '../image/spec.ts';
import { BUNDLE_FORMAT, BUNDLE_VERSION, type BundleManifest, type CombineMode, type EnsembleMember, type ModelInput, type TagInfo } from '../infer/bundle.ts';
import { inputDims, modelInputs } from '../infer/model-io.ts';
import { combineParts, perTagWeights, renamedScores, scoresOf, type Part } from './combine.ts';
import { Emitter } from './emit.ts';
import { mergeFunctions, mergeMember } from './merge.ts';
import { checkOpsetUpgrade, mergedOpsets } from './opsets.ts';
import { averagedThresholds } from './thresholds.ts';

export const ENSEMBLE_OUTPUT = 'predictions';
export const MEMBER_OUTPUT = 'member_probabilities';

export interface MemberSource {
  /** How errors and `info` name it: its folder. */
  readonly where: string;
  readonly manifest: BundleManifest;
  readonly model: Uint8Array;
}

export interface EnsembleOptions {
  readonly combine: CombineMode;
  /** One per member, ≥ 0; normalised. Default: equal. */
  readonly weights?: readonly number[];
  readonly name?: string;
}

/** Key of a preprocessing spec: equal specs, whatever their key order, share an input. */
function specKey(spec: PreprocessSpec): string {
  return JSON.stringify(Object.keys(spec).sort().map((k) => [k, spec[k as keyof PreprocessSpec]]));
}

export function normaliseWeights(weights: readonly number[] | undefined, members: number): number[] {
  if (!weights) return Array.from({ length: members }, () => 1 / members);
  if (weights.length !== members) throw new TagbooruError('E_USAGE', `Expected one --weights value per member (${members}) but received ${weights.length}`);
  weights.forEach((w, k) => {
    if (!(w >= 0) || !Number.isFinite(w)) throw new TagbooruError('E_USAGE', `Expected --weights values ≥ 0 but received ${w} for member ${k + 1}`);
  });
  const total = weights.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new TagbooruError('E_USAGE', 'Expected --weights with a positive sum but received all zeros');
  return weights.map((w) => w / total);
}

/** The members' image input: the one named in the bundle, with its batch dim. */
function imageInput(model: ModelProto, m: MemberSource): { name: string; batch: number | null } {
  const inputs = modelInputs(m.manifest);
  if (inputs.length > 1) throw new TagbooruError('E_USAGE', `${m.where} has ${inputs.length} inputs (an ensemble of members with different preprocessing); give its members instead`);
  if (m.manifest.ensemble?.combine === 'random') throw new TagbooruError('E_USAGE', `${m.where} draws a member per image (--combine random); give its members instead`);
  const name = m.manifest.input.name;
  const info = model.graph?.input?.find((i) => i.name === name);
  if (!info) throw new TagbooruError('E_BUNDLE', `${m.where}: the model has no input ${name}`);
  const d = info.type?.tensorType?.shape?.dim?.[0];
  const batch = d?.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0 ? Number(d.dimValue) : null;
  return { name, batch };
}

function tensorInfo(name: string, dims: readonly (number | string)[]): ValueInfoProto {
  return { name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}

export interface BuiltEnsemble {
  readonly manifest: BundleManifest;
  readonly model: Uint8Array;
}

export function buildEnsemble(members: readonly MemberSource[], options: EnsembleOptions): BuiltEnsemble {
  if (members.length < 2) throw new TagbooruError('E_USAGE', `Expected at least 2 member bundles but received ${members.length}`);
  if (options.combine === 'weighted' && !options.weights) throw new TagbooruError('E_USAGE', '--combine weighted needs --weights (one per member)');
  const weights = normaliseWeights(options.weights, members.length);
  const models = members.map((m) => decodeModel(m.model));
  const images = models.map((model, k) => imageInput(model, members[k]!));

  // one input per distinct preprocessing, in order of first use
  const inputs: ModelInput[] = [];
  const inputOf = members.map((m) => {
    const key = specKey(m.manifest.preprocess);
    let i = inputs.findIndex((x) => specKey(x.preprocess) === key);
    if (i < 0) i = inputs.push({ name: inputs.length === 0 ? 'input' : `input_${inputs.length}`, preprocess: m.manifest.preprocess }) - 1;
    return inputs[i]!.name;
  });
  const fixed = [...new Set(images.flatMap((i) => (i.batch === null ? [] : [i.batch])))];
  if (fixed.length > 1) throw new TagbooruError('E_USAGE', `the members were exported with different fixed batch sizes (${fixed.join(', ')}); one graph has one batch`);
  const batch: number | string = fixed[0] ?? 'N';

  // tags: the union by name, in the order members list them
  const union: TagInfo[] = [];
  const position = new Map<string, number>();
  for (const m of members) for (const t of m.manifest.tags) if (!position.has(t.name)) position.set(t.name, union.push(t) - 1);
  const known = members.map((m) => {
    const own = new Set(m.manifest.tags.map((t) => t.name));
    return union.map((t) => own.has(t.name));
  });
  const columns = members.map((m) => {
    const own = new Map(m.manifest.tags.map((t, i) => [t.name, i]));
    const cols = union.map((t) => own.get(t.name) ?? 0);
    return cols.length === m.manifest.tags.length && cols.every((c, i) => c === i) ? null : cols;
  });
  const tagWeights = perTagWeights(weights, known, union.map((t) => t.name));

  const opsets = mergedOpsets(models);
  const merged: ModelProto = decodeModel(new Uint8Array(0));
  merged.irVersion = Math.max(...models.map((m) => Number(m.irVersion ?? 0)));
  merged.producerName = 'tagbooru ensemble';
  merged.opsetImport = [...opsets].map(([domain, version]) => ({ domain, version }));
  merged.graph = { name: 'ensemble', node: [], initializer: [], sparseInitializer: [], valueInfo: [], output: [], input: inputs.map((i) => tensorInfo(i.name, inputDims(i.preprocess, batch))) };
  merged.functions = [];
  const outputs: string[] = [];
  const parts: Part[] = models.map((model, k) => {
    const m = members[k]!;
    checkOpsetUpgrade(model, opsets, m.where);
    const scores = scoresOf(model, m.manifest.output.name, m.manifest.output.activation);
    mergeFunctions(merged, model, m.where);
    const rename = mergeMember(merged.graph!, model, { input: images[k]!.name, shared: inputOf[k]!, prefix: `m${k}/` }, m.where);
    outputs.push(rename(m.manifest.output.name));
    return { scores: renamedScores(scores, rename), columns: columns[k]! };
  });
  const e = new Emitter(merged);
  const combined = combineParts(e, parts, tagWeights, options.combine);
  e.node('Identity', [combined.probs], {}, ENSEMBLE_OUTPUT);
  merged.graph.output!.push(tensorInfo(ENSEMBLE_OUTPUT, [batch, union.length]));
  if (combined.stacked) {
    e.node('Identity', [combined.stacked], {}, MEMBER_OUTPUT);
    merged.graph.output!.push(tensorInfo(MEMBER_OUTPUT, [batch, members.length, union.length]));
  }

  const described: EnsembleMember[] = members.map((m, k) => ({
    name: m.manifest.name,
    architecture: m.manifest.architecture ?? null,
    width: m.manifest.preprocess.width,
    height: m.manifest.preprocess.height,
    tags: m.manifest.tags.length,
    weight: weights[k]!,
    input: inputOf[k]!,
    source: m.where,
    provenance: m.manifest.provenance,
    output: { name: outputs[k]!, activation: m.manifest.output.activation },
    tagIndices: m.manifest.tags.map((t) => position.get(t.name)!),
  }));
  const first = members[0]!.manifest;
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    name: options.name ?? `ensemble-${members.map((m) => m.manifest.name).join('+')}`,
    architecture: 'ensemble',
    model: 'model.onnx',
    input: { name: inputs[0]!.name, batch: typeof batch === 'number' ? batch : 'dynamic' },
    output: { name: ENSEMBLE_OUTPUT, activation: 'sigmoid' },
    preset: inputs.length === 1 ? first.preset : 'custom',
    preprocess: inputs[0]!.preprocess,
    ...(inputs.length > 1 && { inputs }),
    tags: union,
    thresholds: averagedThresholds(members.map((m) => m.manifest), union),
    provenance: { createdBy: 'tagbooru ensemble', createdAt: new Date().toISOString(), members: members.map((m) => m.manifest.name) },
    ensemble: { combine: options.combine, members: described, ...(combined.stacked && { memberOutput: MEMBER_OUTPUT }) },
  };
  return { manifest, model: encodeModel(merged) };
}
