/**
 * Layer helpers over the builder, NCHW. Each computes its output shape statically and encodes
 * TensorFlow's conventions (SAME padding is asymmetric: the extra pixel goes after).
 */
import { InvariantError } from '../errors.ts';
import { float } from './attributes.ts';
import type { Graph } from './builder.ts';
import { dim, type Dim, type Shape, type Value } from './types.ts';

export type Padding = 'same' | 'valid' | readonly [number, number, number, number]; // [top, left, bottom, right]

/** TF "SAME": out = ceil(in/s), total = max((out−1)·s + k − in, 0), before = floor(total/2). */
export function samePad(size: number, kernel: number, stride: number, dilation = 1): [before: number, after: number, out: number] {
  const k = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + k - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before, out];
}

function resolvePads(h: number, w: number, kh: number, kw: number, s: readonly [number, number], padding: Padding) {
  if (padding === 'valid') return [0, 0, 0, 0] as const;
  if (padding !== 'same') return padding;
  const [t, b] = samePad(h, kh, s[0]);
  const [l, r] = samePad(w, kw, s[1]);
  return [t, l, b, r] as const;
}

export function windowOut(size: number, k: number, s: number, before: number, after: number): number {
  return Math.floor((size + before + after - k) / s) + 1;
}

export interface ConvOptions {
  strides?: readonly [number, number];
  padding?: Padding;
  group?: number;
  name?: string;
}

/** The attributes and output shape of a conv of x [N,C,H,W] with w [O,C/group,kh,kw], checked. */
export function convGeometry(x: Value, w: Value, o: ConvOptions): { attrs: { kernel_shape: number[]; strides: number[]; pads: number[]; group?: number }; shape: Dim[] } {
  const [n, c, h, wd] = [x.shape[0]!, dim(x.shape, 1), dim(x.shape, 2), dim(x.shape, 3)];
  const [out, cin, kh, kw] = [dim(w.shape, 0), dim(w.shape, 1), dim(w.shape, 2), dim(w.shape, 3)];
  const group = o.group ?? 1;
  if (cin * group !== c) throw new InvariantError(`conv2d ${o.name ?? ''}: input has ${c} channels, kernel expects ${cin}×${group}`);
  const s = o.strides ?? [1, 1];
  const [t, l, b, r] = resolvePads(h, wd, kh, kw, s, o.padding ?? 'same');
  const shape = [n, out, windowOut(h, kh, s[0], t, b), windowOut(wd, kw, s[1], l, r)];
  return { attrs: { kernel_shape: [kh, kw], strides: [...s], pads: [t, l, b, r], group: group === 1 ? undefined : group }, shape };
}

/** x [N,C,H,W], w [O,C/group,kh,kw], bias [O] or null. */
export function conv2d(g: Graph, x: Value, w: Value, bias: Value | null, o: ConvOptions = {}): Value {
  const { attrs, shape } = convGeometry(x, w, o);
  return g.op('Conv', bias ? [x, w, bias] : [x, w], attrs, shape, 'float32', o.name);
}

/** Output shape of a pooling window over [N,C,H,W]. */
export function poolShape(x: Value, kernel: readonly [number, number], strides: readonly [number, number], padding: Padding): { shape: Dim[]; pads: readonly [number, number, number, number] } {
  const [h, w] = [dim(x.shape, 2), dim(x.shape, 3)];
  const pads = resolvePads(h, w, kernel[0], kernel[1], strides, padding);
  const [t, l, b, r] = pads;
  return { shape: [x.shape[0]!, x.shape[1]!, windowOut(h, kernel[0], strides[0], t, b), windowOut(w, kernel[1], strides[1], l, r)], pads };
}

/** MaxPool pads never win a max in ONNX, which is TF's −inf padding. */
export function maxPool2d(g: Graph, x: Value, kernel: readonly [number, number], strides: readonly [number, number], padding: Padding = 'same', name?: string): Value {
  const { shape, pads } = poolShape(x, kernel, strides, padding);
  return g.op('MaxPool', [x], { kernel_shape: [...kernel], strides: [...strides], pads: [...pads] }, shape, 'float32', name);
}

/** TF averages only the valid pixels under a SAME window: count_include_pad = 0. */
export function avgPool2d(g: Graph, x: Value, kernel: readonly [number, number], strides: readonly [number, number], padding: Padding = 'valid', name?: string): Value {
  const { shape, pads } = poolShape(x, kernel, strides, padding);
  return g.op('AveragePool', [x], { kernel_shape: [...kernel], strides: [...strides], pads: [...pads], count_include_pad: 0 }, shape, 'float32', name);
}

/** Inference-mode batch normalisation over channel axis 1. */
export function batchNorm(g: Graph, x: Value, scale: Value, bias: Value, mean: Value, variance: Value, epsilon: number, name?: string): Value {
  return g.op('BatchNormalization', [x, scale, bias, mean, variance], { epsilon: float(epsilon) }, x.shape, 'float32', name);
}

export const relu = (g: Graph, x: Value, name?: string) => g.op('Relu', [x], {}, x.shape, 'float32', name);
export const sigmoid = (g: Graph, x: Value, name?: string) => g.op('Sigmoid', [x], {}, x.shape, 'float32', name);

function broadcast(a: Shape, b: Shape, op: string): Shape {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else throw new InvariantError(`${op}: shapes [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
  }
  return out;
}

export const add = (g: Graph, a: Value, b: Value, name?: string) => g.op('Add', [a, b], {}, broadcast(a.shape, b.shape, 'Add'), 'float32', name);
export const mul = (g: Graph, a: Value, b: Value, name?: string) => g.op('Mul', [a, b], {}, broadcast(a.shape, b.shape, 'Mul'), 'float32', name);
export const sub = (g: Graph, a: Value, b: Value, name?: string) => g.op('Sub', [a, b], {}, broadcast(a.shape, b.shape, 'Sub'), 'float32', name);

/** [N,C,H,W] → [N,C] */
export function globalAvgPool(g: Graph, x: Value, name?: string): Value {
  const pooled = g.op('GlobalAveragePool', [x], {}, [x.shape[0]!, x.shape[1]!, 1, 1], 'float32', name);
  return flatten(g, pooled);
}

export function flatten(g: Graph, x: Value, name?: string): Value {
  const rest = x.shape.slice(1).reduce<number>((p, d) => p * (d as number), 1);
  return g.op('Flatten', [x], { axis: 1 }, [x.shape[0]!, rest], 'float32', name);
}

export function transpose(g: Graph, x: Value, perm: readonly number[], name?: string): Value {
  return g.op('Transpose', [x], { perm: [...perm] }, perm.map((p) => x.shape[p]!), x.dtype, name);
}

/** `shape` may use 0 (copy) and −1 (infer) as ONNX Reshape does; the static result is given in `outShape`. */
export function reshape(g: Graph, x: Value, shape: readonly number[], outShape: Shape, name?: string): Value {
  // NOTE: a reshape to the shape it has is dropped: each ORT node costs microseconds, and the grouped
  // optimizer update alone flattens and restores thousands of BN vectors that are flat already
  const same = outShape.length === x.shape.length && outShape.every((d, i) => typeof d === 'number' && d === x.shape[i]);
  if (same && name === undefined) return x;
  return g.op('Reshape', [x, g.ints(shape)], {}, outShape, x.dtype, name);
}

/** x [N,K] · w [K,M] (+ bias [M]) */
export function dense(g: Graph, x: Value, w: Value, bias: Value | null, name?: string): Value {
  const k = dim(x.shape, -1);
  if (dim(w.shape, 0) !== k) throw new InvariantError(`dense ${name ?? ''}: input width ${k}, kernel [${w.shape.join(',')}]`);
  const shape = [x.shape[0]!, dim(w.shape, 1)];
  if (bias) return g.op('Gemm', [x, w, bias], {}, shape, 'float32', name);
  return g.op('MatMul', [x, w], {}, shape, 'float32', name);
}

export function matmul(g: Graph, a: Value, b: Value, name?: string): Value {
  const batch = broadcast(a.shape.slice(0, -2), b.shape.slice(0, -2), 'MatMul');
  if (dim(a.shape, -1) !== dim(b.shape, -2)) throw new InvariantError(`MatMul: [${a.shape.join(',')}] · [${b.shape.join(',')}]`);
  return g.op('MatMul', [a, b], {}, [...batch, a.shape[a.shape.length - 2]!, b.shape[b.shape.length - 1]!], 'float32', name);
}
