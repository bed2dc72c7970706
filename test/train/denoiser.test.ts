/**
 * The learned de-noiser: its regression loss and weight gradients, its VJP graph at a size other than the one it
 * was built at, and the trained defence (reconstruction error measured, clamped output, exact backward), each
 * against float64 finite differences of the oracle forward.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FEED, FETCH, buildTrainingStep } from '../../src/autodiff/step-graph.ts';
import { VJP_NAMES, buildVjpGraph } from '../../src/autodiff/vjp.ts';
import type { DefenceImage } from '../../src/image/index.ts';
import { openDenoiser } from '../../src/infer/denoiser.ts';
import { openDefence } from '../../src/infer/defences.ts';
import { DEFAULT_DENOISER_DIR } from '../../src/package.ts';
import { ModelSession, type TensorData } from '../../src/infer/session.ts';
import { buildDenoiser } from '../../src/models/denoiser.ts';
import { Rng } from '../../src/models/random.ts';
import { variables } from '../../src/models/shapes.ts';
import { DENOISER_DEFAULTS, trainDenoiser, writeDenoiserBundle } from '../../src/train/denoiser.ts';
import { centralDifference, referenceTrainForward, toFloat64, type Float64Weights } from '../oracle/training.ts';
import { compare, randomWeights } from '../autodiff/_harness.ts';

const shape = (h: number, w: number) => ({ channels: 4, depth: 3, imageSize: [h, w] as const });
const uniform = (rng: Rng, n: number, lo = 0, hi = 1) => Float32Array.from({ length: n }, () => rng.uniform(lo, hi));

/** The float64 de-noiser output (NHWC, unclamped) of `x` at h × w. */
function reference(w64: Float64Weights, x: ArrayLike<number>, batch: number, h: number, w: number): Float64Array {
  return Float64Array.from(referenceTrainForward(buildDenoiser({ ...shape(h, w), channels: w64.get('conv2d/bias')!.length, depth: [...w64.keys()].filter((k) => k.endsWith('/kernel')).length }), w64, x, batch).logits.data);
}

/** Finite differences of f at `samples` entries of `values` against `analytic`: both error measures. */
function gradError(values: Float64Array, analytic: ArrayLike<number>, f: () => number, samples: number, rng: Rng) {
  const idx = Array.from({ length: samples }, () => rng.int(values.length));
  return compare(idx.map((i) => analytic[i]!), idx.map((i) => centralDifference(values, i, f)));
}

async function runModel(model: Uint8Array, feeds: Record<string, TensorData>): Promise<Record<string, TensorData>> {
  const session = await ModelSession.create(model, { threads: 1 });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

describe('mean_squared_error', () => {
  test('the loss and every weight gradient of a training step against float64 finite differences', async () => {
    const [B, H, W] = [2, 5, 5];
    const spec = buildDenoiser(shape(H, W));
    const rng = new Rng(4);
    const weights = randomWeights(spec, 11);
    const x = uniform(rng, B * H * W * 3), target = uniform(rng, B * 3 * H * W);
    const mask = Float32Array.from({ length: target.length }, (_, i) => (i % 7 === 3 ? 0 : 1));
    const step = buildTrainingStep(spec, { batch: B, loss: 'mean_squared_error', optimizer: { name: 'sgd' }, outputs: 'gradients' });
    expect(step.labelShape).toEqual([3, H, W]);
    const feeds: Record<string, TensorData> = { [FEED.x]: { data: x, dims: [B, H, W, 3] }, [FEED.labels]: { data: target, dims: [B, 3, H, W] }, [FEED.mask]: { data: mask, dims: [B, 3, H, W] } };
    for (const v of step.variables) feeds[FEED.weight(v.key)] = { data: weights.get(v.key)!, dims: v.shape };
    const out = await runModel(step.model, feeds);
    const w64 = toFloat64(weights);
    // the oracle's output is NHWC; the labels are NCHW like the graph's output
    const objective = () => {
      const y = reference(w64, x, B, H, W);
      let sum = 0, known = 0;
      for (let b = 0; b < B; b++) for (let c = 0; c < 3; c++) for (let i = 0; i < H * W; i++) {
        const j = (b * 3 + c) * H * W + i;
        sum += mask[j]! * (y[(b * H * W + i) * 3 + c]! - target[j]!) ** 2;
        known += mask[j]!;
      }
      return sum / known;
    };
    expect(out[FETCH.loss]!.data[0]).toBeCloseTo(objective(), 6);
    const check = new Rng(8);
    for (const v of variables(spec)) {
      const e = gradError(w64.get(v.key)!, out[FETCH.grad(v.key)]!.data, objective, 8, check);
      expect(e.normRel, v.key).toBeLessThan(1e-4);
    }
  }, 30_000);
});

describe('buildVjpGraph', () => {
  test('built at 5×5, run at 7×6: the output and uᵀ·∂y/∂x against float64', async () => {
    const spec = buildDenoiser(shape(5, 5));
    const weights = randomWeights(spec, 12);
    const rng = new Rng(5);
    const [H, W] = [7, 6];
    const x = uniform(rng, H * W * 3), u = uniform(rng, H * W * 3, -1, 1);
    const model = buildVjpGraph(spec, weights, { vjp: true, anySize: true });
    const out = await runModel(model, { [FEED.x]: { data: x, dims: [1, H, W, 3] }, [VJP_NAMES.upstream]: { data: u, dims: [1, H, W, 3] } });
    const w64 = toFloat64(weights), x64 = Float64Array.from(x);
    const y = reference(w64, x64, 1, H, W);
    expect(out[VJP_NAMES.output]!.dims).toEqual([1, H, W, 3]);
    expect(compare(out[VJP_NAMES.output]!.data, y).normRel).toBeLessThan(1e-6);
    const inner = () => reference(w64, x64, 1, H, W).reduce((s, v, i) => s + v * u[i]!, 0);
    expect(gradError(x64, out[VJP_NAMES.inputGrad]!.data, inner, 24, new Rng(9)).normRel).toBeLessThan(1e-4);
  }, 30_000);
});

describe('the de-noiser defence', () => {
  let dir: string;
  let trained: Awaited<ReturnType<typeof trainDenoiser>>;
  const images = (count: number, seed: number): DefenceImage[] => {
    const rng = new Rng(seed);
    return Array.from({ length: count }, () => {
      // smooth: a few blobs on a gradient, what noise is easy to tell apart from
      const [a, b, c] = [rng.uniform(0, 1), rng.uniform(-0.02, 0.02), rng.uniform(-0.02, 0.02)];
      const blobs = Array.from({ length: 3 }, () => [rng.uniform(0, 24), rng.uniform(0, 24), rng.uniform(-0.4, 0.4)] as const);
      const data = new Float32Array(24 * 24 * 3);
      for (let y = 0; y < 24; y++) for (let x = 0; x < 24; x++) for (let ch = 0; ch < 3; ch++) {
        const blob = blobs.reduce((s, [bx, by, v]) => s + v * Math.exp(-((x - bx) ** 2 + (y - by) ** 2) / 30), 0);
        data[(y * 24 + x) * 3 + ch] = Math.min(1, Math.max(0, a + b * x + c * y + blob * (ch + 1) / 3));
      }
      return { data, width: 24, height: 24 };
    });
  };

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-denoiser-'));
    trained = await trainDenoiser(images(6, 1), images(2, 2), { ...DENOISER_DEFAULTS, channels: 8, depth: 3, patch: 16, batch: 8, steps: 300, lr: 3e-3, threads: 1 });
    await writeDenoiserBundle(dir, trained, { test: true });
  }, 60_000);

  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('trained on a tiny set, it lowers the held-out reconstruction error below the corrupted input\'s', () => {
    const { noisyMse, denoisedMse } = trained.heldOut;
    expect(noisyMse).toBeGreaterThan(1e-4);
    expect(denoisedMse).toBeLessThan(0.8 * noisyMse);
    expect(trained.losses.at(-1)!).toBeLessThan(trained.losses[0]!);
  });

  test('apply clamps the network output to [0, 1]; backward is the exact VJP of the clamped output', async () => {
    const d = await openDenoiser(dir);
    try {
      expect(d.randomised).toBe(false);
      const rng = new Rng(6);
      const [H, W] = [9, 10];
      // values near the ends, so the clamp is active somewhere
      const image: DefenceImage = { data: uniform(rng, H * W * 3, -0.05, 1.05).map((v) => Math.min(1, Math.max(0, v))), width: W, height: H };
      const w64 = toFloat64(trained.weights), x64 = Float64Array.from(image.data);
      const raw = reference(w64, x64, 1, H, W);
      const out = await d.apply(image, () => 0);
      expect(out.data.every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(compare(out.data, raw.map((v) => Math.min(1, Math.max(0, v)))).normRel).toBeLessThan(1e-5);
      const u = uniform(rng, H * W * 3, -1, 1);
      const grad = await d.backward!(image, u, () => 0);
      const inner = () => reference(w64, x64, 1, H, W).reduce((s, v, i) => s + Math.min(1, Math.max(0, v)) * u[i]!, 0);
      expect(gradError(x64, grad, inner, 24, new Rng(10)).normRel).toBeLessThan(1e-4);
    } finally {
      await d.close();
    }
  }, 30_000);

  test('`denoiser` with no bundle is the one shipped in models/denoiser, and it cleans a noisy image', async () => {
    const d = (await openDefence({ spec: 'denoiser', baseDir: os.tmpdir() }))!;
    try {
      expect(d.spec).toBe(`denoiser:bundle=${DEFAULT_DENOISER_DIR}`);
      expect(typeof d.backward).toBe('function');
      const clean = images(1, 3)[0]!, rng = new Rng(12);
      const noisy = { ...clean, data: clean.data.map((v) => Math.min(1, Math.max(0, v + 0.05 * rng.normal()))) };
      const out = await d.apply(noisy, () => 0);
      const mse = (a: Float32Array) => a.reduce((s, v, i) => s + (v - clean.data[i]!) ** 2, 0) / a.length;
      expect(mse(out.data)).toBeLessThan(0.8 * mse(noisy.data));
    } finally {
      await d.close!();
    }
  }, 30_000);

  test('a folder that is not a de-noiser bundle is named with the command that makes one', async () => {
    await expect(openDenoiser(os.tmpdir())).rejects.toThrow(/is not a de-noiser bundle: cannot read denoiser.json .*tagbooru train-denoiser/);
  });
});
