/**
 * The backward of models/exclusive.ts' logits z' = z − log(1 + Σ_{j≠k} e^{z_j}) (members k of a group), for
 * graphs whose loss reads the logits the inference model answers with (the attack graph). For members j, k of
 * one group ∂z'_k/∂z_j = δ_kj − [j≠k]·e^{z_j − shift_k}, so
 *   ∂L/∂z_j = g_j − Σ_{k≠j} g_k·e^{z_j − shift_k},
 * and e^{z_j − shift_k} = e^{z_j} / (1 + Σ_{i≠k} e^{z_i}) lies in (0, 1) (z_j is one of the i), so it is taken
 * whole, never as a product of two exponentials that could overflow.
 */
import { dim, mul, sub, type Graph, type Value } from '../graph/index.ts';
import { exp } from '../graph/math.ts';
import { offDiagonal, scatterGroup, type Group } from '../models/exclusive.ts';

/** `gz` ∂L/∂z' [N, T] → ∂L/∂z [N, T], `groups` built on z [N, T] (the forward's own). */
export function exclusiveLogitsBackward(g: Graph, z: Value, groups: readonly Group[], gz: Value): Value {
  const tags = dim(z.shape, 1), n = z.shape[0]!;
  return groups.reduce((out, t) => {
    const { indices } = t, k = indices.length;
    const axis = (v: Value, at: number, shape: readonly (number | string)[]) => g.op('Unsqueeze', [v, g.ints([at])], {}, shape);
    // m[n, k, j] = e^{z_j − shift_k} off the diagonal, 0 on it
    const m = mul(g, exp(g, sub(g, axis(t.z, 1, [n, 1, k]), axis(t.shift, 2, [n, k, 1]))), offDiagonal(g, k));
    const gk = axis(g.op('Gather', [gz, g.ints(indices)], { axis: 1 }, [n, k]), 1, [n, 1, k]);
    const spill = g.op('Squeeze', [g.op('MatMul', [gk, m], {}, [n, 1, k]), g.ints([1])], {}, [n, k]);
    return sub(g, out, scatterGroup(g, spill, indices, tags));
  }, gz);
}
