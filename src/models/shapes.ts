import { samePad, windowOut } from '../graph/ops.ts';
import type { Layer, LayerShape, ModelSpec, Pair } from './spec.ts';
import { layerInputs } from './spec.ts';

function spatial(size: number, k: number, s: number, padding: 'same' | 'valid'): number {
  if (padding === 'same') return samePad(size, k, s)[2];
  return windowOut(size, k, s, 0, 0);
}

function window(x: LayerShape, k: Pair, s: Pair, padding: 'same' | 'valid', c: number, name: string): LayerShape {
  if (x.length !== 3) throw new Error(`${name}: expects a feature map, got [${x.join(',')}]`);
  const h = spatial(x[0]!, k[0], s[0], padding), w = spatial(x[1]!, k[1], s[1], padding);
  if (h < 1 || w < 1) throw new Error(`${name}: input ${x[0]}×${x[1]} is too small for a ${k[0]}×${k[1]} window`);
  return [h, w, c];
}

/** The output shape of one layer given its inputs' shapes. */
export function shapeOf(layer: Layer, ins: LayerShape[]): LayerShape {
  const x = ins[0]!;
  switch (layer.kind) {
    case 'input': return layer.shape;
    case 'conv': return window(x, layer.kernel, layer.strides, layer.padding, layer.filters, layer.name);
    case 'maxpool': case 'avgpool': return window(x, layer.pool, layer.strides, layer.padding, x[2]!, layer.name);
    case 'bn': case 'relu': case 'sigmoid': return x;
    case 'add': case 'multiply': {
      // Keras Multiply/Add broadcast only in the squeeze-excitation pattern [h,w,c] ⊙ [1,1,c].
      const big = ins.reduce((a, b) => (b.reduce((p, d) => p * d, 1) > a.reduce((p, d) => p * d, 1) ? b : a));
      for (const s of ins) if (s.join() !== big.join() && s.reduce((p, d) => p * d, 1) !== big[big.length - 1]) throw new Error(`${layer.name}: cannot combine [${ins.map((v) => v.join(',')).join('] and [')}]`);
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
      if (!s) throw new Error(`${layer.name}: input ${n} is not defined before it`);
      return s;
    });
    shapes.set(layer.name, shapeOf(layer, ins));
  }
  return shapes;
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
