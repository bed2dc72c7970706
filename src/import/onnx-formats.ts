/** What the ONNX importers share: the model file of a folder, and a draft built from the model's own I/O. */
import path from 'node:path';
import { TagbooruError } from '../errors.ts';
import { presetSpec, type BundleManifest, type TagInfo, type Thresholds } from '../infer/bundle.ts';
import type { PresetName } from '../image/spec.ts';
import { inspectOnnx, sha256File, type OnnxInfo } from './onnx-model.ts';
import { sourceFile, type Draft, type ImportContext, type Source } from './types.ts';

/** The folder's ONNX model: the one named, else one of `preferred`, else the only `.onnx`. */
export async function pickOnnx(source: Source, preferred: readonly string[] = []): Promise<string> {
  if (source.model) return source.model;
  const hit = preferred.find((p) => source.files.includes(p));
  if (hit) return sourceFile(source, hit);
  const all = source.files.filter((f) => f.toLowerCase().endsWith('.onnx'));
  if (all.length === 1) return sourceFile(source, all[0]!);
  if (all.length === 0) throw new TagbooruError('E_MODEL', `${source.dir} has no .onnx model`);
  throw new TagbooruError('E_USAGE', `${source.dir} has several ONNX models (${all.join(', ')}); name the one to import`);
}

export async function labelFile(source: Source, name: string, what: string): Promise<string> {
  if (!source.files.includes(name)) throw new TagbooruError('E_MODEL', `${source.dir} has no ${name} (${what})`);
  return sourceFile(source, name);
}

export interface OnnxDraftSpec {
  readonly format: string;
  readonly preset: PresetName;
  readonly tags: readonly TagInfo[];
  readonly thresholds: Thresholds;
  readonly activation: BundleManifest['output']['activation'];
  /** Which output holds the scores; default the first. */
  readonly output?: (info: OnnxInfo) => OnnxInfo['outputs'][number];
  readonly labelFiles: readonly string[];
  readonly provenance?: Readonly<Record<string, unknown>>;
}

/** A bundle that keeps the ONNX file as it is; preprocessing is the preset at the model's size and layout. */
export async function onnxDraft(modelFile: string, ctx: ImportContext, spec: OnnxDraftSpec): Promise<Draft> {
  ctx.step(`reading ${path.basename(modelFile)}`);
  const info = await inspectOnnx(modelFile, { imageSize: ctx.options.imageSize });
  const output = spec.output?.(info) ?? info.outputs[0];
  if (!output) throw new TagbooruError('E_MODEL', `${modelFile} has no outputs`);
  if (output.width !== spec.tags.length) {
    throw new TagbooruError('E_MODEL', `${spec.labelFiles.map((f) => path.basename(f)).join(' + ')} list ${spec.tags.length} tags but output ${output.name} of ${path.basename(modelFile)} has ${output.width} scores; the label file must be the one released with this model`);
  }
  return {
    format: spec.format,
    model: { copy: modelFile },
    input: { name: info.input.name, batch: info.batch === 'dynamic' ? 'dynamic' : info.batch },
    output: { name: output.name, activation: spec.activation },
    preset: spec.preset,
    preprocess: { ...presetSpec(spec.preset, { width: info.width, height: info.height }), layout: info.layout },
    tags: spec.tags,
    thresholds: spec.thresholds,
    provenance: {
      modelFile: path.basename(modelFile),
      sha256: await sha256File(modelFile),
      labelFiles: spec.labelFiles.map((f) => path.basename(f)),
      parameters: info.parameters,
      onnxInput: info.input,
      onnxOutputs: info.outputs.map((o) => ({ name: o.name, shape: o.shape })),
      ...spec.provenance,
    },
  };
}
