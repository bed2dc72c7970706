/**
 * The float64 oracle: a plain, loop-per-pixel implementation of every layer kind in src/models/spec.ts,
 * NHWC and batch-first, written without src/graph so a shared mistake cannot hide. Slow on purpose.
 */
import type { Layer, ModelSpec, Weights } from '../../src/models/spec.ts';

/** A batch-first tensor: [n, h, w, c] for feature maps, [n, c] for vectors (or any layout a caller names). */
export interface Tensor {
  readonly data: Float64Array;
  readonly shape: readonly number[];
}

export type Pair = readonly [number, number];
/** 'same' (TF), 'valid', or explicit [top, left, bottom, right]. */
export type Padding = 'same' | 'valid' | readonly [number, number, number, number];

export const tensor = (data: ArrayLike<number>, shape: readonly number[]): Tensor => {
  const n = shape.reduce((p, d) => p * d, 1);
  if (n !== data.length) throw new Error(`tensor: ${data.length} values for shape [${shape.join(',')}]`);
  return { data: Float64Array.from(data), shape };
};

/** TF "SAME" along one axis: out = ceil(in/s), total = max((out−1)·s + k − in, 0), before = floor(total/2). */
export function tfSamePad(size: number, k: number, s: number): { out: number; before: number; after: number } {
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + k - size, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

/** Output size and leading pad of a window op along one axis. */
function axis(size: number, k: number, s: number, padding: Padding, i: 0 | 1): { out: number; before: number } {
  if (padding === 'same') return tfSamePad(size, k, s);
  const before = padding === 'valid' ? 0 : padding[i];
  const after = padding === 'valid' ? 0 : padding[i + 2]!;
  return { out: Math.floor((size + before + after - k) / s) + 1, before };
}

/** Conv over NHWC `x` with an OIHW kernel. Out-of-range taps read zero (conv padding is zeros). */
export function conv2d(x: Tensor, kernel: Tensor, bias: ArrayLike<number> | null, strides: Pair, padding: Padding): Tensor {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const [o, ci, kh, kw] = kernel.shape as [number, number, number, number];
  if (ci !== c) throw new Error(`oracle conv2d: input has ${c} channels, kernel [${kernel.shape.join(',')}]`);
  const H = axis(h, kh, strides[0], padding, 0), W = axis(w, kw, strides[1], padding, 1);
  const out = new Float64Array(n * H.out * W.out * o);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < H.out; oy++)
      for (let ox = 0; ox < W.out; ox++)
        for (let f = 0; f < o; f++) {
          let acc = bias ? bias[f]! : 0;
          for (let ky = 0; ky < kh; ky++) {
            const y = oy * strides[0] - H.before + ky;
            if (y < 0 || y >= h) continue;
            for (let kx = 0; kx < kw; kx++) {
              const xx = ox * strides[1] - W.before + kx;
              if (xx < 0 || xx >= w) continue;
              for (let ch = 0; ch < c; ch++) acc += x.data[((b * h + y) * w + xx) * c + ch]! * kernel.data[((f * c + ch) * kh + ky) * kw + kx]!;
            }
          }
          out[((b * H.out + oy) * W.out + ox) * o + f] = acc;
        }
  return { data: out, shape: [n, H.out, W.out, o] };
}

/**
 * Max or average pooling over NHWC. Taps outside the input are skipped, which is −inf padding for max
 * and TF's count-excluding-pad average for SAME.
 */
export function pool2d(x: Tensor, mode: 'max' | 'avg', size: Pair, strides: Pair, padding: Padding): Tensor {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const H = axis(h, size[0], strides[0], padding, 0), W = axis(w, size[1], strides[1], padding, 1);
  const out = new Float64Array(n * H.out * W.out * c);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < H.out; oy++)
      for (let ox = 0; ox < W.out; ox++)
        for (let ch = 0; ch < c; ch++) {
          let acc = mode === 'max' ? -Infinity : 0, count = 0;
          for (let ky = 0; ky < size[0]; ky++) {
            const y = oy * strides[0] - H.before + ky;
            if (y < 0 || y >= h) continue;
            for (let kx = 0; kx < size[1]; kx++) {
              const xx = ox * strides[1] - W.before + kx;
              if (xx < 0 || xx >= w) continue;
              const v = x.data[((b * h + y) * w + xx) * c + ch]!;
              acc = mode === 'max' ? Math.max(acc, v) : acc + v;
              count++;
            }
          }
          out[((b * H.out + oy) * W.out + ox) * c + ch] = mode === 'max' ? acc : acc / count;
        }
  return { data: out, shape: [n, H.out, W.out, c] };
}

export const maxPool2d = (x: Tensor, size: Pair, strides: Pair, padding: Padding) => pool2d(x, 'max', size, strides, padding);
export const avgPool2d = (x: Tensor, size: Pair, strides: Pair, padding: Padding) => pool2d(x, 'avg', size, strides, padding);

export interface BnParams {
  readonly gamma: ArrayLike<number>;
  readonly beta: ArrayLike<number>;
  readonly mean: ArrayLike<number>;
  readonly variance: ArrayLike<number>;
}

/** Inference batch norm over the last axis: γ·(x − μ)/√(σ² + ε) + β. */
export function batchNorm(x: Tensor, p: BnParams, epsilon: number): Tensor {
  const c = x.shape.at(-1)!;
  return { data: x.data.map((v, i) => { const ch = i % c; return (p.gamma[ch]! * (v - p.mean[ch]!)) / Math.sqrt(p.variance[ch]! + epsilon) + p.beta[ch]!; }), shape: x.shape };
}

export const relu = (x: Tensor): Tensor => ({ data: x.data.map((v) => Math.max(v, 0)), shape: x.shape });
export const sigmoid = (x: Tensor): Tensor => ({ data: x.data.map((v) => 1 / (1 + Math.exp(-v))), shape: x.shape });

/** Sigmoids, except that each group's members are the softmax of [their logits…, 0]: p_k = e^{z_k} / (1 + Σ_j e^{z_j}). */
export function exclusiveSigmoid(x: Tensor, groups: readonly (readonly number[])[]): Tensor {
  const out = sigmoid(x), tags = x.shape.at(-1)!;
  for (let n = 0; n < x.data.length / tags; n++) {
    for (const group of groups) {
      const z = group.map((k) => x.data[n * tags + k]!), top = Math.max(0, ...z);
      const partition = Math.exp(-top) + z.reduce((s, v) => s + Math.exp(v - top), 0);
      group.forEach((k, j) => (out.data[n * tags + k] = Math.exp(z[j]! - top) / partition));
    }
  }
  return out;
}

/**
 * Elementwise add or multiply. Inputs have the same shape, or a smaller one holds one value per channel
 * per sample ([n,c] or [n,1,1,c]) and broadcasts over the map: Keras' [h,w,c] ⊙ [c].
 */
export function combine(op: 'add' | 'multiply', inputs: readonly Tensor[]): Tensor {
  const big = inputs.reduce((a, b) => (b.data.length > a.data.length ? b : a));
  const [n, c] = [big.shape[0]!, big.shape.at(-1)!];
  const perSample = big.data.length / n;
  const out = new Float64Array(big.data.length).fill(op === 'add' ? 0 : 1);
  for (const t of inputs) {
    const sameShape = t.data.length === big.data.length;
    if (!sameShape && t.data.length !== n * c) throw new Error(`oracle ${op}: cannot combine [${t.shape.join(',')}] with [${big.shape.join(',')}]`);
    for (let i = 0; i < out.length; i++) {
      const v = sameShape ? t.data[i]! : t.data[Math.floor(i / perSample) * c + (i % c)]!;
      out[i] = op === 'add' ? out[i]! + v : out[i]! * v;
    }
  }
  return { data: out, shape: big.shape };
}

/** [n,h,w,c] → [n,c] */
export function globalAvgPool(x: Tensor): Tensor {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const out = new Float64Array(n * c);
  for (let b = 0; b < n; b++) for (let p = 0; p < h * w; p++) for (let ch = 0; ch < c; ch++) out[b * c + ch]! += x.data[(b * h * w + p) * c + ch]! / (h * w);
  return { data: out, shape: [n, c] };
}

/** Keras Flatten of NHWC: row-major over (h, w, c), no reordering. */
export const flatten = (x: Tensor): Tensor => ({ data: x.data, shape: [x.shape[0]!, x.data.length / x.shape[0]!] });

/** a [..., m, k] · b [k, p] or [..., k, p] with the same leading dims. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const [m, k] = a.shape.slice(-2) as [number, number];
  const [kb, p] = b.shape.slice(-2) as [number, number];
  if (k !== kb) throw new Error(`oracle matmul: [${a.shape.join(',')}] · [${b.shape.join(',')}]`);
  const batches = a.data.length / (m * k), bStride = b.shape.length === 2 ? 0 : k * p;
  const out = new Float64Array(batches * m * p);
  for (let t = 0; t < batches; t++)
    for (let i = 0; i < m; i++)
      for (let j = 0; j < p; j++) {
        let acc = 0;
        for (let r = 0; r < k; r++) acc += a.data[(t * m + i) * k + r]! * b.data[t * bStride + r * p + j]!;
        out[(t * m + i) * p + j] = acc;
      }
  return { data: out, shape: [...a.shape.slice(0, -1), p] };
}

/** x [n,k] · kernel [k,m] (+ bias [m]) */
export function dense(x: Tensor, kernel: Tensor, bias: ArrayLike<number> | null): Tensor {
  const y = matmul(x, kernel);
  const m = kernel.shape[1]!;
  return bias ? { data: y.data.map((v, i) => v + bias[i % m]!), shape: y.shape } : y;
}

/** Permute axes: out.shape[i] = x.shape[perm[i]]. */
export function transpose(x: Tensor, perm: readonly number[]): Tensor {
  const shape = perm.map((p) => x.shape[p]!);
  const strides = x.shape.map((_, i) => x.shape.slice(i + 1).reduce((p, d) => p * d, 1));
  const out = new Float64Array(x.data.length);
  const idx = shape.map(() => 0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let i = 0; i < perm.length; i++) src += idx[i]! * strides[perm[i]!]!;
    out[o] = x.data[src]!;
    for (let i = shape.length - 1; i >= 0 && ++idx[i]! === shape[i]; i--) idx[i] = 0;
  }
  return { data: out, shape };
}

export const nchwToNhwc = (x: Tensor) => transpose(x, [0, 2, 3, 1]);
export const nhwcToNchw = (x: Tensor) => transpose(x, [0, 3, 1, 2]);

function param(weights: Weights, key: string): Float64Array {
  const w = weights.get(key);
  if (!w) throw new Error(`oracle: missing weight ${key}`);
  return Float64Array.from(w);
}

export function forwardLayer(layer: Layer, ins: Tensor[], weights: Weights): Tensor {
  const x = ins[0]!;
  const p = (v: string) => param(weights, `${layer.name}/${v}`);
  switch (layer.kind) {
    case 'input': throw new Error('oracle: the input layer is fed, not computed');
    case 'conv': {
      const kernel = { data: p('kernel'), shape: [layer.filters, x.shape.at(-1)!, ...layer.kernel] };
      return conv2d(x, kernel, layer.useBias ? p('bias') : null, layer.strides, layer.padding);
    }
    case 'bn': return batchNorm(x, { gamma: p('gamma'), beta: p('beta'), mean: p('moving_mean'), variance: p('moving_variance') }, layer.epsilon);
    case 'relu': return relu(x);
    case 'sigmoid': return layer.exclusive ? exclusiveSigmoid(x, layer.exclusive) : sigmoid(x);
    case 'maxpool': return maxPool2d(x, layer.pool, layer.strides, layer.padding);
    case 'avgpool': return avgPool2d(x, layer.pool, layer.strides, layer.padding);
    case 'add': case 'multiply': return combine(layer.kind, ins);
    case 'gap': return globalAvgPool(x);
    case 'flatten': return flatten(x);
    case 'dense': return dense(x, { data: p('kernel'), shape: [x.shape[1]!, layer.units] }, layer.useBias ? p('bias') : null);
  }
}

/**
 * Every layer's activation for an NHWC batch. `replace` substitutes given activations for computed ones (the
 * layers downstream read them): finite differences with respect to an activation perturb it there.
 */
export function referenceActivations(spec: ModelSpec, weights: Weights, inputNHWC: ArrayLike<number>, batch: number, replace?: ReadonlyMap<string, Tensor>): Map<string, Tensor> {
  const acts = new Map<string, Tensor>();
  for (const layer of spec.layers) {
    const fixed = replace?.get(layer.name);
    if (fixed) {
      acts.set(layer.name, fixed);
      continue;
    }
    if (layer.kind === 'input') {
      acts.set(layer.name, tensor(inputNHWC, [batch, ...layer.shape]));
      continue;
    }
    const names = 'inputs' in layer ? layer.inputs : [layer.input];
    const ins = names.map((n) => {
      const t = acts.get(n);
      if (!t) throw new Error(`oracle: ${layer.name} reads ${n} before it is computed`);
      return t;
    });
    acts.set(layer.name, forwardLayer(layer, ins, weights));
  }
  return acts;
}

/** The model output (tag probabilities, [batch, tags] row-major) for an NHWC batch. */
export function referenceForward(spec: ModelSpec, weights: Weights, inputNHWC: Float64Array, batch: number): Float64Array {
  const out = referenceActivations(spec, weights, inputNHWC, batch).get(spec.output);
  if (!out) throw new Error(`oracle: output ${spec.output} is not a layer of ${spec.name}`);
  return out.data;
}
