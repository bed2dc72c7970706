/** Elementwise, reduction and indexing helpers used by the gradient rules, losses and optimizers. */
import { InvariantError } from '../errors.ts';
import type { Graph } from './builder.ts';
import { reshape } from './ops.ts';
import { dim, dimProduct, numel, type Dim, type Shape, type Value } from './types.ts';

function broadcast(shapes: readonly Shape[], op: string): Shape {
  const n = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const x = s[s.length - n + i] ?? 1;
      if (x === 1 || x === d) continue;
      if (d !== 1) throw new InvariantError(`${op}: shapes ${shapes.map((s) => `[${s.join(',')}]`).join(' and ')} do not broadcast`);
      d = x;
    }
    out.push(d);
  }
  return out;
}

const binary = (op: string) => (g: Graph, a: Value, b: Value, name?: string) => g.op(op, [a, b], {}, broadcast([a.shape, b.shape], op), 'float32', name);
const unary = (op: string) => (g: Graph, x: Value, name?: string) => g.op(op, [x], {}, x.shape, 'float32', name);

export const div = binary('Div');
export const pow = binary('Pow');
export const max = binary('Max');
export const min = binary('Min');
export const sqrt = unary('Sqrt');
export const exp = unary('Exp');
export const log = unary('Log');
export const abs = unary('Abs');
export const neg = unary('Neg');
export const reciprocal = unary('Reciprocal');
export const identity = unary('Identity');

export function greater(g: Graph, a: Value, b: Value): Value {
  return g.op('Greater', [a, b], {}, broadcast([a.shape, b.shape], 'Greater'), 'bool');
}

export function where(g: Graph, cond: Value, a: Value, b: Value): Value {
  return g.op('Where', [cond, a, b], {}, broadcast([cond.shape, a.shape, b.shape], 'Where'), 'float32');
}

export function cast(g: Graph, x: Value, to: 'float32'): Value {
  return g.op('Cast', [x], { to: 1 }, x.shape, to);
}

/** Sum of any number of same-shaped tensors (fan-in of gradients). */
export function sum(g: Graph, xs: readonly Value[], name?: string): Value {
  if (xs.length === 1) return xs[0]!;
  return g.op('Sum', xs, {}, broadcast(xs.map((x) => x.shape), 'Sum'), 'float32', name);
}

function reducedShape(shape: Shape, axes: readonly number[], keepdims: boolean): Shape {
  const norm = axes.map((a) => (a < 0 ? shape.length + a : a));
  return keepdims ? shape.map((d, i) => (norm.includes(i) ? 1 : d)) : shape.filter((_, i) => !norm.includes(i));
}

/** ReduceMean takes its axes as an attribute up to opset 17. */
export function reduceMean(g: Graph, x: Value, axes: readonly number[], keepdims = true, name?: string): Value {
  return g.op('ReduceMean', [x], { axes: [...axes], keepdims: keepdims ? 1 : 0 }, reducedShape(x.shape, axes, keepdims), 'float32', name);
}

/** ReduceSum takes its axes as an input from opset 13. */
export function reduceSum(g: Graph, x: Value, axes: readonly number[], keepdims = true, name?: string): Value {
  return g.op('ReduceSum', [x, g.ints(axes)], { keepdims: keepdims ? 1 : 0 }, reducedShape(x.shape, axes, keepdims), 'float32', name);
}

/**
 * Σ over the leading axis of a static-shaped x, as a row of ones times x viewed [n, rest]. NOTE: ORT's
 * ReduceSum over a leading axis is 5–10× slower than this GEMV (0.46 against 0.05 ms on [32,32,288], 9.1 against
 * 1.4 on [16,256,2304]: the per-sample weight-gradient partials); over the last axis ReduceSum is the faster.
 */
export function sumLeading(g: Graph, x: Value): Value {
  const [n, ...rest] = x.shape.map((_, i) => dim(x.shape, i)) as [number, ...number[]];
  const size = numel(rest);
  const rows = reshape(g, x, [n, size], [n, size]);
  const sum = g.op('MatMul', [g.constant(new Array<number>(n).fill(1), [1, n]), rows], {}, [1, size]);
  return reshape(g, sum, rest, rest);
}

/**
 * x [N,C] spread over [N,C,h,w] with each cell `scale`·x: an outer product with a constant row. NOTE: 10× faster
 * in ORT than Expand (0.06 against 0.57 ms for [32,512] over 4×4).
 */
export function spreadOver(g: Graph, x: Value, h: number, w: number, scale = 1): Value {
  const [n, c] = [x.shape[0]!, dim(x.shape, 1)];
  const rows = dimProduct([n, c]);
  const column = reshape(g, x, [-1, 1], [rows, 1]);
  const cells = g.op('MatMul', [column, g.constant(new Array<number>(h * w).fill(scale), [1, h * w])], {}, [rows, h * w]);
  return reshape(g, cells, [-1, c, h, w], [n, c, h, w]);
}

export function expand(g: Graph, x: Value, shape: readonly number[]): Value {
  return g.op('Expand', [x, g.ints(shape)], {}, broadcast([x.shape, shape], 'Expand'), 'float32');
}

export function slice(g: Graph, x: Value, starts: readonly number[], ends: readonly number[], axes: readonly number[], steps?: readonly number[]): Value {
  const shape = [...x.shape];
  axes.forEach((a, i) => {
    const n = dim(x.shape, a), step = steps?.[i] ?? 1;
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    const s = starts[i]!, e = ends[i]!;
    if (step > 0) {
      const b = clamp(s < 0 ? s + n : s, 0, n), f = clamp(e < 0 ? e + n : e, 0, n);
      shape[a] = Math.max(0, Math.ceil((f - b) / step));
    } else {
      const b = clamp(s < 0 ? s + n : s, -1, n - 1), f = clamp(e < -n ? -1 : e < 0 ? e + n : e, -1, n - 1);
      shape[a] = Math.max(0, Math.ceil((f - b) / step));
    }
  });
  const inputs = [x, g.ints(starts), g.ints(ends), g.ints(axes), ...(steps ? [g.ints(steps)] : [])];
  return g.op('Slice', inputs, {}, shape, x.dtype);
}

export function concat(g: Graph, xs: readonly Value[], axis: number): Value {
  const shape = [...xs[0]!.shape];
  shape[axis] = xs.reduce((s, x) => s + dim(x.shape, axis), 0);
  return g.op('Concat', xs, { axis }, shape, xs[0]!.dtype);
}
