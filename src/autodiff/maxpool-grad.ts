/**
 * MaxPool and its gradient without argmax indices, for maps in ORT's blocked layout (the attack graph).
 *
 * ORT's index-returning MaxPool is a scalar loop (10.5 ms on the stem's [8,16,112,112] map, where its blocked
 * MaxPool takes 0.4 ms) and the scatter of the gradient another 2.5 ms. A k×k pool is a 1×k pool then a k×1 one,
 * and each of those routes a window's gradient to the first of its k taps that equals the window's maximum: k
 * comparisons of whole phase maps (the rows ≡ q mod s), all elementwise ops on the blocked data as it is.
 * Taking the first tap row by row, then the first column within that row, is the first maximum in row-major
 * order: the element ORT's indices name, so the gradient is the index path's, ties included (zero-filled
 * regions after a ReLU, flat image areas).
 *
 * Only for geometries that split evenly into phases (each side a multiple of its stride, out = size / stride:
 * TensorFlow's "same" pooling on even sides); null otherwise, and the caller keeps the index path.
 */
import { dim, NCHWC_DOMAIN, reshape, type Graph, type Shape, type Value } from '../graph/index.ts';
import { cast, concat, slice } from '../graph/math.ts';
import type { Pads } from './conv-grad.ts';

/** One axis of the pool: kernel k, stride s, `before` padding cells, over `size` cells into size / s windows. */
interface Axis {
  readonly k: number;
  readonly s: number;
  readonly before: number;
  readonly size: number;
}

/** The blocked pool's geometry, per axis; null when it does not split (see above). */
function axes(x: Value, pool: readonly [number, number], strides: readonly [number, number], [t, l, b, r]: Pads, block: number): [Axis, Axis] | null {
  const [c, h, w] = [dim(x.shape, 1), dim(x.shape, 2), dim(x.shape, 3)];
  const rows: Axis = { k: pool[0], s: strides[0], before: t, size: h }, cols: Axis = { k: pool[1], s: strides[1], before: l, size: w };
  // every phase of an axis is some tap's when k ≥ s; out = size / s
  const splits = (a: Axis, after: number) => a.size % a.s === 0 && a.k >= a.s && Math.floor((a.size + a.before + after - a.k) / a.s) + 1 === a.size / a.s;
  return c % block === 0 && splits(rows, b) && splits(cols, r) ? [rows, cols] : null;
}

/**
 * The pool of a blocked map x ([N,C,H,W], memory [N,C/B,H,W,B]) as a column pass z then a row pass y (both
 * blocked), or null when the geometry does not split (see above) or the channels fill no whole blocks.
 */
export function separableMaxPool(g: Graph, x: Value, pool: readonly [number, number], strides: readonly [number, number], pads: Pads, block: number): { y: Value; z: Value } | null {
  const split = axes(x, pool, strides, pads, block);
  if (!split) return null;
  const [rows, cols] = split, [n, c] = [x.shape[0]!, dim(x.shape, 1)];
  const pass = (v: Value, k: readonly number[], s: readonly number[], p: readonly number[], shape: Shape) =>
    g.opIn(NCHWC_DOMAIN, 'MaxPool', [v], { kernel_shape: [...k], strides: [...s], pads: [...p] }, shape);
  // columns first: the first maximum row by row, then within the row, is the index path's (row-major); and the
  // row pass's gradient works on the narrower map
  const z = pass(x, [1, cols.k], [1, cols.s], [0, pads[1], 0, pads[3]], [n, c, rows.size, cols.size / cols.s]);
  return { z, y: pass(z, [rows.k, 1], [rows.s, 1], [pads[0], 0, pads[2], 0], [n, c, rows.size / rows.s, cols.size / cols.s]) };
}

/** dL/dx (blocked) from dL/dy (blocked) through `separableMaxPool`'s passes z and y. */
export function separableMaxPoolGrad(g: Graph, x: Value, { y, z }: { y: Value; z: Value }, gy: Value, pool: readonly [number, number], strides: readonly [number, number], pads: Pads, block: number): Value {
  const [rows, cols] = axes(x, pool, strides, pads, block)!;
  return routeToFirstMax(g, x, z, routeToFirstMax(g, z, y, gy, rows, 2, block), cols, 3, block);
}

/**
 * One pass back: each window's gradient to the first of its taps equal to its maximum. `big` is the pass's input
 * and `small` its output (both blocked), pooled along `axis` (2: rows, 3: columns of the logical shape).
 *
 * Tap j of window i reads cell s·i − before + j = s·(i + d) + q: phase q = (j − before) mod s, shifted by
 * d = ⌊(j − before) / s⌋. Cells outside the map are padding, never a maximum.
 */
function routeToFirstMax(g: Graph, big: Value, small: Value, gy: Value, a: Axis, axis: 2 | 3, block: number): Value {
  const n = big.shape[0]!, [c, h, w] = [dim(big.shape, 1), dim(big.shape, 2), dim(big.shape, 3)];
  // views of the blocked memory: [N, C/B, H, W, B]; the phases split off the pooled axis right after it
  const view = (hh: number, ww: number) => [n, c / block, hh, ww, block];
  const smallView = axis === 2 ? view(h / a.s, w) : view(h, w / a.s);
  const phased = [...smallView.slice(0, axis + 1), a.s, ...smallView.slice(axis + 1)];
  const to = (v: Value, shape: Shape) => reshape(g, v, [0, ...shape.slice(1).map(Number)], shape);
  const phases = g.opN('Split', [to(big, phased)], { axis: axis + 1 }, Array.from({ length: a.s }, () => ({ shape: [...phased.slice(0, axis + 1), 1, ...phased.slice(axis + 2)], dtype: 'float32' as const })))
    .map((p) => to(p, smallView));
  const [m, gs] = [to(small, smallView), to(gy, smallView)];
  const cells = dim(smallView, axis);
  // v shifted by d along the axis: out[i] = v[i + d], `fill` where i + d falls outside
  const shift = (v: Value, d: number, fill: number) => {
    if (d === 0) return v;
    const kept = slice(g, v, [Math.max(d, 0)], [cells + Math.min(d, 0)], [axis]);
    const pads = new Array<number>(2 * smallView.length).fill(0);
    [pads[axis], pads[smallView.length + axis]] = [Math.max(-d, 0), Math.max(d, 0)];
    return g.op('Pad', [kept, g.ints(pads), g.scalar(fill)], {}, smallView);
  };
  const grads: Value[][] = Array.from({ length: a.s }, () => []);
  // the gradient of the windows no earlier tap took: each window's goes to one tap, its first maximum. The last tap
  // takes what is left without a comparison: a window's maximum is one of its cells, and when that cell is padding
  // (the last tap past the edge) an earlier tap holds the maximum and nothing is left
  let rest = gs;
  for (let j = 0; j < a.k; j++) {
    const q = (((j - a.before) % a.s) + a.s) % a.s, d = Math.floor((j - a.before) / a.s);
    let taken = rest;
    if (j < a.k - 1) {
      const hit = cast(g, g.op('Equal', [shift(phases[q]!, d, -Infinity), m], {}, smallView, 'bool'), 'float32');
      taken = g.op('Mul', [rest, hit], {}, smallView);
      rest = g.op('Sub', [rest, taken], {}, smallView);
    }
    grads[q]!.push(shift(taken, -d, 0));
  }
  const one = [...phased.slice(0, axis + 1), 1, ...phased.slice(axis + 2)];
  const parts = grads.map((gq) => to(gq.slice(1).reduce((acc, v) => g.op('Add', [acc, v], {}, smallView), gq[0]!), one));
  return reshape(g, concat(g, parts, axis + 1), [0, c, h, w], [n, c, h, w]);
}
