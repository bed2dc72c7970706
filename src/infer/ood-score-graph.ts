/**
 * The tagger's model.onnx with its out-of-distribution score computed in the graph, for runtimes that are
 * to apply a bundle's OOD fit without tagbooru's code (the web UI's in-browser mode): one more output,
 * [N, 1], the score `tag` computes (ood.ts) from the same logits and pooled features:
 * - energy: −Σ softplus(z) over the logits (inverted from the probabilities, clamped as `logitsOf` clamps, when
 *   the graph hides them);
 * - mahalanobis: ‖W (f − μ)‖ with the fit's mean and whiten matrix as initializers; mahalanobis-l2 the same
 *   of z = f / max(‖f‖, NORM_FLOOR);
 * - knn: z's similarities to the bank (a MatMul with the bank transposed), the k-th largest picked by TopK and
 *   Gather, then √Relu(2 − 2s).
 * Sums are MatMuls with a ones vector, so no op but TopK depends on the model's opset (its k is an attribute
 * before opset 10, an input from then on). The tag output is untouched.
 */
import fs from 'node:fs/promises';
import { TagbooruError } from '../errors.ts';
import { decodeModel } from '../graph/index.ts';
import { addFloatInitializer, addInt64Initializer, addOutputs, encodeModel, namer, nodeAppender, opsetOf } from '../graph/surgery.ts';
import type { Bundle } from './bundle.ts';
import { addOodValues } from './ood-graph.ts';
import { NORM_FLOOR, readMethodParameters, type MahalanobisParameters, type OodMethod, type OodParameters } from './ood.ts';

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

export function oodScoreGraph(bytes: Uint8Array, output: { name: string; activation?: string }, tags: number, method: OodMethod, params: OodParameters = {}): OodScoreGraph {
  const model = decodeModel(bytes);
  const fresh = namer(model);
  const values = addOodValues(model, output.name, fresh);
  const node = nodeAppender(model, fresh, 'ood_score');
  const constant = (hint: string, dims: number[], data: Float32Array) => addFloatInitializer(model, fresh, `ood_score_${hint}`, dims, data);
  const scalar = (hint: string, v: number) => constant(hint, [], Float32Array.of(v));
  const flatten = (v: string) => node('Flatten', [v], [{ name: 'axis', type: 2, i: 1 }]);
  const rowSum = (v: string, width: number) => node('MatMul', [v, constant('ones', [width, 1], new Float32Array(width).fill(1))]);
  const transposed = (data: Float32Array, rows: number, cols: number) => {
    const t = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = data[i * cols + j]!;
    return t;
  };
  const unit = (f: string, c: number) => node('Div', [f, node('Max', [node('Sqrt', [rowSum(node('Mul', [f, f]), c)]), scalar('norm_floor', NORM_FLOOR)])]);
  const mahalanobis = (f: string, { mean, whiten }: MahalanobisParameters) => {
    const c = mean.length;
    // y = W d for a row d is d Wᵀ
    const y = node('MatMul', [node('Sub', [f, constant('mean', [c], mean)]), constant('whiten_t', [c, c], transposed(whiten, c, c))]);
    return node('Sqrt', [rowSum(node('Mul', [y, y]), c)]);
  };

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
    const missing = () => new TagbooruError('E_BUNDLE', `the OOD score is ${method} but the pooled features cannot be found: ${values.featuresError ?? 'no fit'}`);
    const features = values.features;
    if (method === 'knn') {
      if (!features || !params.knn) throw missing();
      const { bank, rows, k } = params.knn;
      const c = bank.length / rows;
      const sims = node('MatMul', [unit(features, c), constant('bank_t', [c, rows], transposed(bank, rows, c))]);
      const top = topK(sims, k);
      const kth = node('Gather', [top, addInt64Initializer(model, fresh, 'ood_score_kth', [1], [k - 1])], [{ name: 'axis', type: 2, i: 1 }]);
      const two = scalar('two', 2);
      score = node('Sqrt', [node('Relu', [node('Sub', [two, node('Mul', [two, kth])])])]);
    } else {
      const fit = params[method];
      if (!features || !fit) throw missing();
      score = mahalanobis(method === 'mahalanobis' ? features : unit(features, fit.mean.length), fit);
    }
  }
  if (fresh(OOD_SCORE_OUTPUT) !== OOD_SCORE_OUTPUT) throw new TagbooruError('E_BUNDLE', `model.onnx already has a value named ${OOD_SCORE_OUTPUT}, the name the OOD score's output takes`);
  model.graph!.node!.push({ opType: 'Identity', name: fresh(`node_${OOD_SCORE_OUTPUT}`), input: [score], output: [OOD_SCORE_OUTPUT] });
  addOutputs(model, [OOD_SCORE_OUTPUT]);
  return { model: encodeModel(model), output: OOD_SCORE_OUTPUT };

  /** The k largest of each row, largest first (TopK's values; its indices are not used). */
  function topK(x: string, k: number): string {
    const out = fresh('ood_score_topk'), indices = fresh('ood_score_topk_indices');
    const axis = { name: 'axis', type: 2, i: -1 };
    const old = opsetOf(model) < 10;
    model.graph!.node!.push({
      opType: 'TopK', name: fresh(`node_${out}`), output: [out, indices],
      input: old ? [x] : [x, addInt64Initializer(model, fresh, 'ood_score_k', [1], [k])],
      attribute: old ? [axis, { name: 'k', type: 2, i: k }] : [axis],
    });
    return out;
  }
}

/** The bundle's model with its fitted OOD score in the graph, or null when the bundle has no fit. */
export async function bundleOodScoreGraph(bundle: Bundle): Promise<{ graph: OodScoreGraph; spec: OodScoreSpec } | null> {
  const { manifest } = bundle;
  const spec = oodScoreSpec(manifest);
  if (!spec) return null;
  const params = await readMethodParameters(bundle.dir, manifest.ood!);
  const graph = oodScoreGraph(new Uint8Array(await fs.readFile(bundle.modelPath)), manifest.output, manifest.tags.length, spec.method, params);
  return { graph, spec };
}
