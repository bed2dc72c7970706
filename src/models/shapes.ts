import { TagbooruError } from '../errors.ts';
import { samePad, windowOut } from '../graph/ops.ts';
import { exclusiveGroupsProblem } from './exclusive.ts';
import type { Layer, LayerShape, ModelSpec, Pair } from './spec.ts';
import { layerInputs } from './spec.ts';

function spatial(size: number, k: number, s: number, padding: 'same' | 'valid'): number {
  if (padding === 'same') return samePad(size, k, s)[2];
  return windowOut(size, k, s, 0, 0);
}

function window(x: LayerShape, k: Pair, s: Pair, padding: 'same' | 'valid', c: number, name: string): LayerShape {
  if (x.length !== 3) throw new TagbooruError('E_MODEL', `${name}: expects a feature map, got [${x.join(',')}]`);
  const h = spatial(x[0]!, k[0], s[0], padding), w = spatial(x[1]!, k[1], s[1], padding);
  if (h < 1 || w < 1) throw new TagbooruError('E_MODEL', `${name}: input ${x[0]}×${x[1]} is too small for a ${k[0]}×${k[1]} window`);
  return [h, w, c];
}

/** The output shape of one layer given its inputs' shapes. */
export function shapeOf(layer: Layer, ins: LayerShape[]): LayerShape {
  const x = ins[0]!;
  switch (layer.kind) {
    case 'input': return layer.shape;
    case 'conv': return window(x, layer.kernel, layer.strides, layer.padding, layer.filters, layer.name);
    case 'maxpool': case 'avgpool': return window(x, layer.pool, layer.strides, layer.padding, x[2]!, layer.name);
    case 'bn': case 'relu': return x;
    case 'sigmoid': {
      const problem = layer.exclusive && (x.length === 1 ? exclusiveGroupsProblem(layer.exclusive, x[0]!) : `exclusive tags need a vector of tags, got [${x.join(',')}]`);
      if (problem) throw new TagbooruError('E_MODEL', `${layer.name}: ${problem}`);
      return x;
    }
    case 'add': case 'multiply': {
      // Keras Multiply/Add broadcast only in the squeeze-excitation pattern [h,w,c] ⊙ [1,1,c].
      const big = ins.reduce((a, b) => (b.reduce((p, d) => p * d, 1) > a.reduce((p, d) => p * d, 1) ? b : a));
      for (const s of ins) if (s.join() !== big.join() && s.reduce((p, d) => p * d, 1) !== big[big.length - 1]) throw new TagbooruError('E_MODEL', `${layer.name}: cannot combine [${ins.map((v) => v.join(',')).join('] and [')}]`);
      return big;
    }
    case 'gap': return [x[x.length - 1]!];
    case 'flatten': return [x.reduce((p, d) => p * d, 1)];
    case 'dense': return [layer.units];
  }
}

/** Static NHWC shapes of every layer output. */
export function inferShapes(spec: ModelSpec): Map<string, LayerShape> {
  const shapes = new Map<string, LayerShape>();
  for (const layer of spec.layers) {
    const ins = layerInputs(layer).map((n) => {
      const s = shapes.get(n);
      if (!s) throw new TagbooruError('E_MODEL', `${layer.name}: input ${n} is not defined before it`);
      return s;
    });
    shapes.set(layer.name, shapeOf(layer, ins));
  }
  return shapes;
}

/**
 * The smallest input [height, width] for which every window of the model still covers one position, found by
 * walking back from the output: each layer needs its input at least as large as its window over the size its
 * readers need. Merged maps are taken to share their size (so `add` passes the need to every input).
 */
export function minimumInputSize(spec: ModelSpec): [height: number, width: number] {
  const need = new Map<string, Pair>();
  let input: Pair = [1, 1];
  for (const layer of [...spec.layers].reverse()) {
    const out = need.get(layer.name) ?? [1, 1];
    if (layer.kind === 'input') input = out;
    const into = inputNeed(layer, out);
    for (const name of layerInputs(layer)) {
      const had = need.get(name) ?? [1, 1];
      need.set(name, [Math.max(had[0], into[0]), Math.max(had[1], into[1])]);
    }
  }
  return [input[0], input[1]];
}

function inputNeed(layer: Layer, [h, w]: Pair): Pair {
  // VALID windows must fit: (out − 1)·stride + window; SAME gives ceil(in / stride) positions: one past (out − 1)·stride
  const side = (out: number, k: number, s: number, padding: 'same' | 'valid') => (out - 1) * s + (padding === 'valid' ? k : 1);
  switch (layer.kind) {
    case 'conv': return [side(h, layer.kernel[0], layer.strides[0], layer.padding), side(w, layer.kernel[1], layer.strides[1], layer.padding)];
    case 'maxpool': case 'avgpool': return [side(h, layer.pool[0], layer.strides[0], layer.padding), side(w, layer.pool[1], layer.strides[1], layer.padding)];
    case 'gap': case 'flatten': case 'dense': return [1, 1];
    default: return [h, w];
  }
}

export interface VariableSpec {
  readonly key: string; // `<layer>/<variable>`
  readonly shape: readonly number[];
  readonly trainable: boolean;
}

/** Every variable of the model in Keras order (kernel, bias; gamma, beta, moving_mean, moving_variance). */
export function variables(spec: ModelSpec, shapes = inferShapes(spec)): VariableSpec[] {
  const out: VariableSpec[] = [];
  const v = (layer: string, name: string, shape: number[], trainable = true) => out.push({ key: `${layer}/${name}`, shape, trainable });
  for (const layer of spec.layers) {
    const inShape = layer.kind === 'input' ? [] : shapes.get(layerInputs(layer)[0]!)!;
    const cin = inShape[inShape.length - 1]!;
    if (layer.kind === 'conv') {
      v(layer.name, 'kernel', [layer.filters, cin, layer.kernel[0], layer.kernel[1]]);
      if (layer.useBias) v(layer.name, 'bias', [layer.filters]);
    } else if (layer.kind === 'bn') {
      for (const n of ['gamma', 'beta']) v(layer.name, n, [cin]);
      for (const n of ['moving_mean', 'moving_variance']) v(layer.name, n, [cin], false);
    } else if (layer.kind === 'dense') {
      v(layer.name, 'kernel', [cin, layer.units]);
      if (layer.useBias) v(layer.name, 'bias', [layer.units]);
    }
  }
  return out;
}

export function parameterCount(spec: ModelSpec): { total: number; trainable: number } {
  let total = 0, trainable = 0;
  for (const v of variables(spec)) {
    const n = v.shape.reduce((p, d) => p * d, 1);
    total += n;
    if (v.trainable) trainable += n;
  }
  return { total, trainable };
}
