/**
 * The tagger's model.onnx with its out-of-distribution score computed in the graph, for runtimes that are
 * to apply a bundle's OOD fit without tagbooru's code (the web UI's in-browser mode): one more output,
 * [N, 1], the score `tag` computes (ood.ts) from the same logits and pooled features:
 * - energy: −Σ softplus(z) over the logits (inverted from the probabilities, clamped as `logitsOf` clamps, when
 *   the graph hides them);
 * - mahalanobis: ‖W (f − μ)‖ with the fit's mean and whiten matrix as initializers.
 * Sums are MatMuls with a ones vector, so no op depends on the model's opset. The tag output is untouched.
 */
import fs from 'node:fs/promises';
import { TagbooruError } from '../errors.ts';
import { decodeModel } from '../graph/index.ts';
import { addFloatInitializer, addOutputs, encodeModel, namer, nodeAppender } from '../graph/surgery.ts';
import type { Bundle } from './bundle.ts';
import { addOodValues } from './ood-graph.ts';
import { OOD_FILE, readMahalanobis, type MahalanobisParameters, type OodMethod } from './ood.ts';

/** The score's output in the graph, [N, 1]. */
export const OOD_SCORE_OUTPUT = 'ood_score';

export interface OodScoreGraph {
  readonly model: Uint8Array;
  readonly output: typeof OOD_SCORE_OUTPUT;
}

/** What a client needs beside the graph: which output is the score and the threshold above which an image is flagged. */
export interface OodScoreSpec {
  readonly method: OodMethod;
  readonly output: typeof OOD_SCORE_OUTPUT;
  readonly threshold: number;
}

/** The fitted score a bundle applies and its threshold, or null without a fit. */
export function oodScoreSpec(manifest: Bundle['manifest']): OodScoreSpec | null {
  const ood = manifest.ood;
  const threshold = ood?.thresholds[ood.method];
  return ood && threshold !== undefined ? { method: ood.method, output: OOD_SCORE_OUTPUT, threshold } : null;
}

/** `logitsOf`'s probability clamp [ε, 1 − ε] as a clamp of the logit: ± log((1 − ε) / ε). */
const LOGIT_LIMIT = Math.log1p(-1e-7) - Math.log(1e-7);

export function oodScoreGraph(bytes: Uint8Array, output: { name: string; activation?: string }, tags: number, method: OodMethod, mahalanobis: MahalanobisParameters | null): OodScoreGraph {
  const model = decodeModel(bytes);
  const fresh = namer(model);
  const values = addOodValues(model, output.name, fresh);
  const node = nodeAppender(model, fresh, 'ood_score');
  const constant = (hint: string, dims: number[], data: Float32Array) => addFloatInitializer(model, fresh, `ood_score_${hint}`, dims, data);
  const scalar = (hint: string, v: number) => constant(hint, [], Float32Array.of(v));
  const flatten = (v: string) => node('Flatten', [v], [{ name: 'axis', type: 2, i: 1 }]);
  const rowSum = (v: string, width: number) => node('MatMul', [v, constant('ones', [width, 1], new Float32Array(width).fill(1))]);

  let score: string;
  if (method === 'energy') {
    let z: string;
    if (values.logits) z = flatten(values.logits);
    else if (output.activation === 'logits') z = flatten(output.name);
    else {
      const p = flatten(output.name);
      const logit = node('Sub', [node('Log', [p]), node('Log', [node('Sub', [scalar('one', 1), p])])]);
      z = node('Min', [node('Max', [logit, scalar('low', -LOGIT_LIMIT)]), scalar('high', LOGIT_LIMIT)]);
    }
    score = node('Neg', [rowSum(node('Softplus', [z]), tags)]);
  } else {
    if (!values.features || !mahalanobis) throw new TagbooruError('E_BUNDLE', `the OOD score is mahalanobis but the pooled features cannot be found: ${values.featuresError ?? 'no fit'}`);
    const { mean, whiten } = mahalanobis;
    const c = mean.length;
    // y = W d for a row d is d Wᵀ
    const whitenT = new Float32Array(c * c);
    for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) whitenT[j * c + i] = whiten[i * c + j]!;
    const y = node('MatMul', [node('Sub', [values.features, constant('mean', [c], mean)]), constant('whiten_t', [c, c], whitenT)]);
    score = node('Sqrt', [rowSum(node('Mul', [y, y]), c)]);
  }
  if (fresh(OOD_SCORE_OUTPUT) !== OOD_SCORE_OUTPUT) throw new TagbooruError('E_BUNDLE', `model.onnx already has a value named ${OOD_SCORE_OUTPUT}, the name the OOD score's output takes`);
  model.graph!.node!.push({ opType: 'Identity', name: fresh(`node_${OOD_SCORE_OUTPUT}`), input: [score], output: [OOD_SCORE_OUTPUT] });
  addOutputs(model, [OOD_SCORE_OUTPUT]);
  return { model: encodeModel(model), output: OOD_SCORE_OUTPUT };
}

/** The bundle's model with its fitted OOD score in the graph, or null when the bundle has no fit. */
export async function bundleOodScoreGraph(bundle: Bundle): Promise<{ graph: OodScoreGraph; spec: OodScoreSpec } | null> {
  const { manifest } = bundle;
  const spec = oodScoreSpec(manifest);
  if (!spec) return null;
  const mahalanobis = spec.method === 'mahalanobis' ? await readMahalanobis(bundle.dir, manifest.ood!.file ?? OOD_FILE) : null;
  const graph = oodScoreGraph(new Uint8Array(await fs.readFile(bundle.modelPath)), manifest.output, manifest.tags.length, spec.method, mahalanobis);
  return { graph, spec };
}
