/** Fresh weights with tf.keras' initialisers, seeded. */
import { Rng } from './random.ts';
import { inferShapes, variables } from './shapes.ts';
import type { Layer, ModelSpec, Weights } from './spec.ts';

// he_normal draws from a normal truncated at 2σ; Keras divides the stddev by this constant so the
// truncated distribution keeps variance 2/fan_in.
const TRUNCATED_STD = 0.87962566103423978;

function truncatedNormal(rng: Rng, out: Float32Array, std: number): void {
  for (let i = 0; i < out.length; i++) {
    let v: number;
    do v = rng.normal(); while (Math.abs(v) > 2);
    out[i] = v * std;
  }
}

function glorotUniform(rng: Rng, out: Float32Array, fanIn: number, fanOut: number): void {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform(-limit, limit);
}

export function initWeights(spec: ModelSpec, seed = 0): Weights {
  const rng = new Rng(seed);
  const byName = new Map<string, Layer>(spec.layers.map((l) => [l.name, l]));
  const weights: Weights = new Map();
  for (const v of variables(spec, inferShapes(spec))) {
    const data = new Float32Array(v.shape.reduce((p, d) => p * d, 1));
    const [layerName, variable] = v.key.split('/') as [string, string];
    const layer = byName.get(layerName)!;
    if (layer.kind === 'conv' && variable === 'kernel') {
      const [, cin, kh, kw] = v.shape as [number, number, number, number];
      truncatedNormal(rng, data, Math.sqrt(2 / (cin * kh * kw)) / TRUNCATED_STD);
    } else if (layer.kind === 'dense' && variable === 'kernel') {
      glorotUniform(rng, data, v.shape[0]!, v.shape[1]!);
    } else if (variable === 'moving_variance' || (variable === 'gamma' && !(layer.kind === 'bn' && layer.zeroGamma))) {
      data.fill(1);
    }
    weights.set(v.key, data);
  }
  return weights;
}
