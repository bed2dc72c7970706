/**
 * The inference graph: NHWC float input, weights baked in as initializers (so ORT can prepack and fuse),
 * BatchNormalization folded into the preceding convolution.
 */
import { TagbooruError } from '../errors.ts';
import { Graph, add, avgPool2d, batchNorm, conv2d, dense, flatten, globalAvgPool, maxPool2d, mul, relu, reshape, sigmoid, transpose, type Value } from '../graph/index.ts';
import { exclusiveLogits } from './exclusive.ts';
import { inferShapes } from './shapes.ts';
import { consumers, type Layer, type ModelSpec, type Weights } from './spec.ts';

export interface ExportOptions {
  /** A fixed batch size, or a symbolic name for a dynamic batch. */
  readonly batch?: number | string;
  readonly inputName?: string;
  readonly outputName?: string;
  /** Fold BatchNormalization into the conv before it (default true). */
  readonly foldBatchNorm?: boolean;
  /** Run a 1×1 conv → global-average-pool head as pool → MatMul: equal up to rounding, ~HW× cheaper. */
  readonly poolBeforeHead?: boolean;
}

export const DEFAULT_INPUT = 'input';
export const DEFAULT_OUTPUT = 'predictions';

function weight(weights: Weights, key: string): Float32Array {
  const w = weights.get(key);
  if (!w) throw new TagbooruError('E_MODEL', `missing weight ${key}`);
  return w;
}

/** Fold y = γ·(conv(x)+b − μ)/√(σ²+ε) + β into the conv's kernel and bias, in float64. */
export function foldBatchNorm(kernel: Float32Array, bias: Float32Array | undefined, bn: { gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array }, epsilon: number): { kernel: Float32Array; bias: Float32Array } {
  const out = bn.gamma.length, per = kernel.length / out;
  const k = new Float32Array(kernel.length), b = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    const scale = bn.gamma[o]! / Math.sqrt(bn.variance[o]! + epsilon);
    for (let i = 0; i < per; i++) k[o * per + i] = kernel[o * per + i]! * scale;
    b[o] = ((bias?.[o] ?? 0) - bn.mean[o]!) * scale + bn.beta[o]!;
  }
  return { kernel: k, bias: b };
}

/**
 * The model with each BatchNormalization whose input is a conv read by nothing else folded into that conv
 * (the inference semantics): the conv takes the BN's name, so the layers after it read it unchanged.
 */
export function foldBatchNormLayers(spec: ModelSpec, weights: Weights): { spec: ModelSpec; weights: Weights } {
  const readers = consumers(spec);
  const byName = new Map(spec.layers.map((l) => [l.name, l]));
  const out = new Map(weights);
  const folds = new Map<string, Extract<Layer, { kind: 'bn' }>>(); // conv name → its BN
  for (const l of spec.layers) {
    const producer = l.kind === 'bn' ? byName.get(l.input) : undefined;
    if (l.kind === 'bn' && producer?.kind === 'conv' && readers.get(producer.name)?.length === 1) folds.set(producer.name, l);
  }
  const layers: Layer[] = [];
  for (const l of spec.layers) {
    const bn = folds.get(l.name);
    if (l.kind === 'bn' && folds.get(l.input) === l) continue;
    if (l.kind !== 'conv' || !bn) {
      layers.push(l);
      continue;
    }
    const w = (key: string) => weight(weights, key), n = bn.name;
    const { kernel, bias } = foldBatchNorm(w(`${l.name}/kernel`), l.useBias ? w(`${l.name}/bias`) : undefined, { gamma: w(`${n}/gamma`), beta: w(`${n}/beta`), mean: w(`${n}/moving_mean`), variance: w(`${n}/moving_variance`) }, bn.epsilon);
    for (const key of [`${l.name}/kernel`, `${l.name}/bias`, `${n}/gamma`, `${n}/beta`, `${n}/moving_mean`, `${n}/moving_variance`]) out.delete(key);
    out.set(`${n}/kernel`, kernel);
    out.set(`${n}/bias`, bias);
    layers.push({ ...l, name: n, useBias: true });
  }
  return { spec: { ...spec, layers }, weights: out };
}

export function exportInference(spec: ModelSpec, weights: Weights, options: ExportOptions = {}): Uint8Array {
  const { batch = 'N', inputName = DEFAULT_INPUT, outputName = DEFAULT_OUTPUT, foldBatchNorm: fold = true, poolBeforeHead = true } = options;
  const g = new Graph(spec.name);
  const shapes = inferShapes(spec);
  const readers = consumers(spec);
  const byName = new Map(spec.layers.map((l) => [l.name, l]));
  const values = new Map<string, Value>();
  const get = (name: string) => values.get(name)!;
  const w = (key: string) => weight(weights, key);
  const init = (name: string, data: Float32Array, shape: readonly number[]) => g.initializer(g.fresh(name), data, shape);
  const only = (layer: string) => readers.get(layer)?.length === 1;

  for (const layer of spec.layers) {
    const next = readers.get(layer.name) ?? [];
    const nextLayer = next.length === 1 ? byName.get(next[0]!) : undefined;
    values.set(layer.name, emit(layer));

    function emit(layer: Layer): Value {
      switch (layer.kind) {
        case 'input': {
          const [h, wd, c] = layer.shape;
          return transpose(g, g.input(inputName, 'float32', [batch, h, wd, c]), [0, 3, 1, 2], 'nchw');
        }
        case 'conv': {
          const cin = shapes.get(layer.input)!.at(-1)!;
          const kshape = [layer.filters, cin, layer.kernel[0], layer.kernel[1]];
          let kernel = w(`${layer.name}/kernel`);
          let bias = layer.useBias ? w(`${layer.name}/bias`) : undefined;
          if (fold && nextLayer?.kind === 'bn') {
            const n = nextLayer.name;
            ({ kernel, bias } = foldBatchNorm(kernel, bias, { gamma: w(`${n}/gamma`), beta: w(`${n}/beta`), mean: w(`${n}/moving_mean`), variance: w(`${n}/moving_variance`) }, nextLayer.epsilon));
          }
          const isPooledHead = poolBeforeHead && nextLayer?.kind === 'gap' && layer.kernel.join() === '1,1' && layer.strides.join() === '1,1';
          if (isPooledHead) {
            // GAP(x)·Wᵀ: transpose the [out, cin] kernel into MatMul's [cin, out].
            const t = new Float32Array(kernel.length);
            for (let o = 0; o < layer.filters; o++) for (let i = 0; i < cin; i++) t[i * layer.filters + o] = kernel[o * cin + i]!;
            const pooled = globalAvgPool(g, get(layer.input));
            return dense(g, pooled, init(`${layer.name}.kernel`, t, [cin, layer.filters]), bias ? init(`${layer.name}.bias`, bias, [layer.filters]) : null, layer.name);
          }
          return conv2d(g, get(layer.input), init(`${layer.name}.kernel`, kernel, kshape), bias ? init(`${layer.name}.bias`, bias, [layer.filters]) : null, { strides: layer.strides, padding: layer.padding, name: layer.name });
        }
        case 'bn': {
          const x = get(layer.input);
          const producer = byName.get(layer.input);
          if (fold && producer?.kind === 'conv' && only(producer.name)) return x;
          const p = (v: string) => init(`${layer.name}.${v}`, w(`${layer.name}/${v}`), [x.shape[1] as number]);
          return batchNorm(g, x, p('gamma'), p('beta'), p('moving_mean'), p('moving_variance'), layer.epsilon, layer.name);
        }
        case 'relu': return relu(g, get(layer.input), layer.name);
        case 'sigmoid': return sigmoid(g, exclusiveLogits(g, get(layer.input), layer.exclusive ?? []), layer.name);
        case 'maxpool': return maxPool2d(g, get(layer.input), layer.pool, layer.strides, layer.padding, layer.name);
        case 'avgpool': return avgPool2d(g, get(layer.input), layer.pool, layer.strides, layer.padding, layer.name);
        case 'add': case 'multiply': {
          const ins = layer.inputs.map((n) => {
            const v = get(n);
            // a [N,C] vector meets an [N,C,H,W] map (squeeze-excitation): make it [N,C,1,1]
            return v.shape.length === 2 && layer.inputs.some((o) => get(o).shape.length === 4) ? reshape(g, v, [0, 0, 1, 1], [v.shape[0]!, v.shape[1]!, 1, 1]) : v;
          });
          const op = layer.kind === 'add' ? add : mul;
          return ins.slice(1).reduce((acc, v) => op(g, acc, v), ins[0]!);
        }
        case 'gap': {
          const x = get(layer.input);
          return x.shape.length === 2 ? x : globalAvgPool(g, x, layer.name); // already pooled by the head rewrite
        }
        case 'flatten': {
          const x = get(layer.input);
          // Keras flattens NHWC: go back to channels-last first so a Dense kernel keeps its row order.
          return flatten(g, x.shape.length === 4 ? transpose(g, x, [0, 2, 3, 1]) : x, layer.name);
        }
        case 'dense': {
          const cin = shapes.get(layer.input)!.at(-1)!;
          return dense(g, get(layer.input), init(`${layer.name}.kernel`, w(`${layer.name}/kernel`), [cin, layer.units]), layer.useBias ? init(`${layer.name}.bias`, w(`${layer.name}/bias`), [layer.units]) : null, layer.name);
        }
      }
    }
  }
  g.output(get(spec.output), outputName);
  return g.toModel(`${spec.name} inference graph`);
}
