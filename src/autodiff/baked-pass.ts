/** The eval-mode forward with the weights baked in as initializers: what the explanation and VJP graphs differentiate. */
import { InvariantError, TagbooruError } from '../errors.ts';
import type { Graph, Value } from '../graph/index.ts';
import { variables } from '../models/shapes.ts';
import type { ModelSpec, Weights } from '../models/spec.ts';
import { forward, type Pass } from './step-graph.ts';

/**
 * Runs the forward to the logits (the output layer when it is no sigmoid), on `input` or on the image input `x`
 * (NHWC) it declares. `nchwcBlock`: ORT's blocked conv kernels (src/train/nchwc-probe.ts; 0: standard Conv);
 * `blockedLayout`: maps kept in their layout from op to op (blocked-layout.ts), for a graph whose outputs are the
 * logits and the input gradient only (the attack graph).
 */
export function bakedPass(g: Graph, spec: ModelSpec, weights: Weights, batch: number | string, nchwcBlock = 0, blockedLayout = false, input?: Value): Pass {
  const shapes = new Map(variables(spec).map((v) => [v.key, v.shape]));
  const baked = new Map<string, Value>();
  const param = (key: string): Value => {
    const hit = baked.get(key);
    if (hit) return hit;
    const shape = shapes.get(key), data = weights.get(key);
    if (!shape) throw new InvariantError(`model ${spec.name} has no variable ${key}`);
    if (!data) throw new TagbooruError('E_MODEL', `missing weight ${key} for model ${spec.name}`);
    const v = g.initializer(g.fresh(key), data, shape);
    baked.set(key, v);
    return v;
  };
  return forward(g, spec, { mode: 'eval', batch, param, paramGrads: false, nchwcBlock, blockedLayout, ...(input && { input }) });
}
