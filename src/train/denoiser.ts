/**
 * Training the de-noiser defence with the training engine: clean images as the tagger sees them (its input size,
 * [0, 1]), random patches, corrupted as an attacker or a noisy upload would (Gaussian noise, or a random ±ε sign
 * pattern: an L∞ perturbation's shape), and the mean squared error back to the clean patch.
 */
import { VJP_NAMES, buildVjpGraph } from '../autodiff/vjp.ts';
import { encodeWeights } from '../formats/safetensors.ts';
import type { DefenceImage } from '../image/index.ts';
import { DENOISER_FORMAT, DENOISER_IO, DENOISER_MANIFEST, type DenoiserManifest } from '../infer/denoiser.ts';
import { buildDenoiser, type DenoiserShape } from '../models/denoiser.ts';
import { Rng } from '../models/random.ts';
import { variables } from '../models/shapes.ts';
import { encodeSpec } from '../models/spec-file.ts';
import type { ModelSpec, Weights } from '../models/spec.ts';
import { writeAtomic } from '../atomic-files.ts';
import { Engine } from './engine.ts';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface DenoiserTraining {
  readonly channels: number;
  readonly depth: number;
  /** Side of the square training patches. */
  readonly patch: number;
  readonly batch: number;
  readonly steps: number;
  readonly lr: number;
  /** Gaussian noise σ drawn from [0, sigma] per patch. */
  readonly sigma: number;
  /** Sign perturbations ±ε with ε drawn from [0, eps] per patch. */
  readonly eps: number;
  readonly seed: number;
  readonly threads: number;
}

export const DENOISER_DEFAULTS: DenoiserTraining = { channels: 24, depth: 4, patch: 48, batch: 16, steps: 600, lr: 2e-3, sigma: 0.06, eps: 8 / 255, seed: 0, threads: 1 };

/** A random `size × size` crop of one of `images`, HWC. */
function crop(images: readonly DefenceImage[], size: number, rng: Rng, out: Float32Array, at: number): void {
  const image = images[rng.int(images.length)]!;
  const left = rng.int(image.width - size + 1), top = rng.int(image.height - size + 1);
  for (let y = 0; y < size; y++) {
    const from = ((top + y) * image.width + left) * 3;
    out.set(image.data.subarray(from, from + size * 3), at + y * size * 3);
  }
}

/** Half the patches get Gaussian noise of σ ∈ [0, sigma], half a ±ε sign pattern with ε ∈ [0, eps]; clamped to [0, 1]. */
export function corrupt(clean: Float32Array, rng: Rng, o: Pick<DenoiserTraining, 'sigma' | 'eps'>): Float32Array {
  const gaussian = rng.next() < 0.5;
  const scale = rng.uniform(0, gaussian ? o.sigma : o.eps);
  return clean.map((v) => Math.min(1, Math.max(0, v + (gaussian ? scale * rng.normal() : rng.next() < 0.5 ? -scale : scale))));
}

/** NHWC → NCHW, the layout of the engine's labels for an image output. */
function toNchw(x: Float32Array, n: number, h: number, w: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) for (let i = 0; i < h * w; i++) for (let c = 0; c < 3; c++) out[((b * 3 + c) * h * w) + i] = x[(b * h * w + i) * 3 + c]!;
  return out;
}

export interface Reconstruction {
  /** Mean squared error to the clean patches of the corrupted input and of the de-noised output (clamped). */
  readonly noisyMse: number;
  readonly denoisedMse: number;
  readonly patches: number;
}

export interface TrainedDenoiser {
  readonly spec: ModelSpec;
  readonly weights: Weights;
  readonly losses: readonly number[];
  /** On held-out images' patches, corrupted as in training with a fixed seed. */
  readonly heldOut: Reconstruction;
}

/** Mean squared errors over `count` fixed corrupted patches of `images`, before and after `engine`. */
async function measure(engine: Engine, images: readonly DefenceImage[], o: DenoiserTraining, count: number): Promise<Reconstruction> {
  const rng = new Rng(o.seed + 1_000_003);
  const per = o.patch * o.patch * 3;
  const clean = new Float32Array(count * per);
  for (let i = 0; i < count; i++) crop(images, o.patch, rng, clean, i * per);
  const noisy = new Float32Array(clean.length);
  for (let i = 0; i < count; i++) noisy.set(corrupt(clean.subarray(i * per, (i + 1) * per), rng, o), i * per);
  const { probs } = await engine.evaluate(noisy, count);
  const target = toNchw(clean, count, o.patch, o.patch), before = toNchw(noisy, count, o.patch, o.patch);
  let noisySum = 0, denoisedSum = 0;
  for (let i = 0; i < target.length; i++) {
    noisySum += (before[i]! - target[i]!) ** 2;
    denoisedSum += (Math.min(1, Math.max(0, probs[i]!)) - target[i]!) ** 2;
  }
  return { noisyMse: noisySum / target.length, denoisedMse: denoisedSum / target.length, patches: count };
}

export async function trainDenoiser(train: readonly DefenceImage[], heldOut: readonly DefenceImage[], o: DenoiserTraining, onStep?: (step: number, loss: number) => void): Promise<TrainedDenoiser> {
  const shape: DenoiserShape = { channels: o.channels, depth: o.depth, imageSize: [o.patch, o.patch] };
  const spec = buildDenoiser(shape);
  const engine = await Engine.create({ model: spec, tags: 3, imageSize: [o.patch, o.patch], batchSize: o.batch, optimizer: { name: 'adam' }, loss: 'mean_squared_error', seed: o.seed, threads: o.threads });
  try {
    // the last convolution starts at zero, so the untrained net is the identity and training can only improve on it
    const last = spec.layers.filter((l) => l.kind === 'conv').at(-1)!.name;
    const zero = variables(spec).find((v) => v.key === `${last}/kernel`)!;
    engine.setWeights(new Map([[zero.key, new Float32Array(zero.shape.reduce((p, d) => p * d, 1))]]), { strict: false });
    const rng = new Rng(o.seed);
    const per = o.patch * o.patch * 3;
    const clean = new Float32Array(o.batch * per), noisy = new Float32Array(o.batch * per);
    const losses: number[] = [];
    for (let step = 0; step < o.steps; step++) {
      for (let i = 0; i < o.batch; i++) {
        crop(train, o.patch, rng, clean, i * per);
        noisy.set(corrupt(clean.subarray(i * per, (i + 1) * per), rng, o), i * per);
      }
      // cosine decay to a tenth: the last steps settle instead of bouncing
      const lr = o.lr * (0.1 + 0.9 * 0.5 * (1 + Math.cos((Math.PI * step) / o.steps)));
      const { loss } = await engine.step(noisy, toNchw(clean, o.batch, o.patch, o.patch), lr);
      losses.push(loss);
      onStep?.(step + 1, loss);
    }
    return { spec, weights: new Map(engine.getWeights()), losses, heldOut: await measure(engine, heldOut.length ? heldOut : train, o, 64) };
  } finally {
    await engine.close();
  }
}

/** The bundle the `denoiser:bundle=<dir>` defence reads (src/infer/denoiser.ts), written manifest last. */
export async function writeDenoiserBundle(dir: string, trained: Pick<TrainedDenoiser, 'spec' | 'weights'>, provenance: Record<string, unknown>): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const names = { ...VJP_NAMES, output: DENOISER_IO.output, upstream: DENOISER_IO.upstream, inputGrad: DENOISER_IO.inputGrad };
  const manifest: DenoiserManifest = { format: DENOISER_FORMAT, version: 1, model: 'model.onnx', vjp: 'vjp.onnx', weights: 'weights.safetensors', spec: 'spec.json', provenance };
  await writeAtomic(path.join(dir, manifest.model), buildVjpGraph(trained.spec, trained.weights, { anySize: true, names }));
  await writeAtomic(path.join(dir, manifest.vjp), buildVjpGraph(trained.spec, trained.weights, { anySize: true, vjp: true, names }));
  await writeAtomic(path.join(dir, manifest.weights), encodeWeights(variables(trained.spec), trained.weights));
  await writeAtomic(path.join(dir, manifest.spec), encodeSpec(trained.spec));
  await writeAtomic(path.join(dir, DENOISER_MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`);
}
