/**
 * A model as a differentiable function for someone else's chain rule: its output, and the vector-Jacobian
 * product uᵀ·∂output/∂x for a given upstream gradient u. A defence that is itself a network (the de-noiser)
 * exposes this, so an adaptive attack differentiates through it exactly instead of by BPDA. General: any
 * spec whose output (the layer before a final sigmoid, if any) is a feature map or a vector.
 */
import { Graph, decodeModel, transpose } from '../graph/index.ts';
import { encodeModel, symbolicAxes } from '../graph/surgery.ts';
import type { ModelSpec, Weights } from '../models/spec.ts';
import { bakedPass } from './baked-pass.ts';
import { FEED, backward } from './step-graph.ts';

/** The graph's tensor names besides its image input, which is `x` (FEED.x) as in every gradient graph. */
export interface VjpNames {
  readonly output: string;
  readonly upstream: string;
  readonly inputGrad: string;
}

export const VJP_NAMES: VjpNames = { output: 'y', upstream: 'upstream', inputGrad: 'input_grad' };

export interface VjpGraphOptions {
  readonly batch?: number | string;
  /** Also take `upstream` (shaped like the output) and give `input_grad` (shaped like the input). */
  readonly vjp?: boolean;
  /**
   * Leave height and width symbolic on the graph's inputs and outputs, for a fully convolutional model with no
   * stride (the de-noiser): built at the spec's size, run at any. Wrong for a model with a head.
   */
  readonly anySize?: boolean;
  readonly names?: VjpNames;
}

/** Inputs and outputs NHWC where they are maps (as the inference graph's input is); eval-mode semantics. */
export function buildVjpGraph(spec: ModelSpec, weights: Weights, o: VjpGraphOptions = {}): Uint8Array {
  const { batch = 'N', vjp = false, anySize = false, names = VJP_NAMES } = o;
  const g = new Graph(`${spec.name}_${vjp ? 'vjp' : 'forward'}`);
  const pass = bakedPass(g, spec, weights, batch);
  const out = pass.values.get(pass.logitsLayer)!;
  const isMap = out.shape.length === 4;
  g.output(isMap ? transpose(g, out, [0, 2, 3, 1], 'to_nhwc') : out, names.output);
  if (vjp) {
    const shape = isMap ? [out.shape[0]!, out.shape[2]!, out.shape[3]!, out.shape[1]!] : out.shape;
    const upstream = g.input(names.upstream, 'float32', shape);
    const seed = isMap ? transpose(g, upstream, [0, 3, 1, 2], 'upstream_nchw') : upstream;
    g.output(backward(spec, pass, seed, { input: true }).inputGrad!, names.inputGrad);
  }
  const bytes = g.toModel(`${spec.name} ${vjp ? 'output and vector-Jacobian product' : 'output'}`);
  if (!anySize) return bytes;
  const model = decodeModel(bytes);
  const spatial = { 1: 'height', 2: 'width' };
  symbolicAxes(model, { [FEED.x]: spatial, [names.upstream]: spatial, [names.output]: spatial, [names.inputGrad]: spatial });
  return encodeModel(model);
}
