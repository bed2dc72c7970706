/** Seeded models, weights, images and release folders for the import tests. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ModelSession } from '../../src/infer/session.ts';
import { initWeights } from '../../src/models/init.ts';
import { Rng } from '../../src/models/random.ts';
import type { ModelSpec, Weights } from '../../src/models/spec.ts';

/**
 * He-initialised kernels, every BN statistic and bias random (so folding is exercised), seeded. `headScale`
 * shrinks the last layer's kernel: deep random nets otherwise saturate the sigmoid, where errors hide.
 */
export function randomWeights(spec: ModelSpec, seed: number, headScale = 1): Weights {
  const weights = initWeights(spec, seed);
  const rng = new Rng(seed + 1);
  const ranges: Record<string, [number, number]> = { gamma: [0.5, 1], beta: [-0.3, 0.3], moving_mean: [-0.3, 0.3], moving_variance: [0.5, 1.5], bias: [-0.2, 0.2] };
  for (const [key, data] of weights) {
    const range = ranges[key.split('/')[1]!];
    if (range) data.forEach((_, i) => (data[i] = rng.uniform(...range)));
  }
  const head = spec.layers.filter((l) => l.kind === 'conv' || l.kind === 'dense').at(-1);
  if (head) weights.get(`${head.name}/kernel`)!.forEach((v, i, a) => (a[i] = v * headScale));
  return weights;
}

/** Smooth per-sample gradients plus noise in [0, 1]: images, not white noise, so pooled outputs differ. */
export function randomImages(seed: number, batch: number, h: number, w: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(batch * h * w * 3);
  for (let b = 0; b < batch; b++) {
    const g = Array.from({ length: 9 }, () => rng.uniform(-1, 1));
    for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let c = 0; c < 3; c++) {
      const v = 0.5 + 0.35 * (g[c]! * (y / h - 0.5) + g[3 + c]! * (xx / w - 0.5)) + 0.15 * g[6 + c]! + rng.uniform(-0.1, 0.1);
      x[((b * h + y) * w + xx) * 3 + c] = Math.min(1, Math.max(0, v));
    }
  }
  return x;
}

/** DeepDanbooru-style tag list: general, then character, then the three system rating tags. */
export function ddTags(general: number, character: number): { tags: string[]; categories: { name: string; start_index: number }[] } {
  const tags = [
    ...Array.from({ length: general }, (_, i) => `general_tag_${i}`),
    ...Array.from({ length: character }, (_, i) => `character_${i}_(series)`),
    'rating:safe', 'rating:questionable', 'rating:explicit',
  ];
  return { tags, categories: [{ name: 'General', start_index: 0 }, { name: 'Character', start_index: general }, { name: 'System', start_index: general + character }] };
}

/** Write tags.txt, categories.json and project.json as a DeepDanbooru release has them. */
export async function writeReleaseLabels(dir: string, opts: { general: number; character: number; size: number; arch: string; categories?: boolean }): Promise<string[]> {
  await fs.mkdir(dir, { recursive: true });
  const { tags, categories } = ddTags(opts.general, opts.character);
  await fs.writeFile(path.join(dir, 'tags.txt'), `${tags.join('\n')}\n`);
  if (opts.categories !== false) await fs.writeFile(path.join(dir, 'categories.json'), JSON.stringify(categories));
  await fs.writeFile(path.join(dir, 'project.json'), JSON.stringify({
    image_width: opts.size, image_height: opts.size, database_path: 'F:/Dataset/danbooru.sqlite', minimum_tag_count: 20, model: opts.arch,
    minibatch_size: 4, epoch_count: 32, export_model_per_epoch: 4, checkpoint_frequency_mb: 1000, console_logging_frequency_mb: 50,
    optimizer: 'sgd', learning_rates: [{ used_epoch: 0, learning_rate: 5.0 }], rotation_range: [0.0, 360.0], scale_range: [0.9, 1.1], shift_range: [-0.1, 0.1], mixed_precision: false,
  }));
  return tags;
}

/** Run a bundle's model.onnx on an NHWC batch, as its input is declared. */
export async function runModel(file: string, input: Float32Array, dims: number[], fetch?: string): Promise<Float32Array> {
  const session = await ModelSession.create(file, { threads: 1, spinning: false });
  try {
    const out = await session.run({ [session.inputs[0]!.name]: { data: input, dims } });
    return out[fetch ?? session.outputs[0]!.name]!.data;
  } finally {
    await session.release();
  }
}
