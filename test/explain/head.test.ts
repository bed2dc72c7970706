/**
 * The head finder and the CAM surgery on every head shape tagbooru meets: its own exports (GAP → MatMul, and the
 * unrewritten conv 1×1 → GAP), resnet_152's AveragePool → Flatten → Gemm, tf2onnx's NHWC ReduceMean → Gemm
 * (transB, alpha, beta), a token model with a class token, a LayerNorm head (no CAM, Score-CAM still works) and a
 * model with no pooling at all. Oracle: the CAM's spatial mean is the model's own logit.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { findPoolHead } from '../../src/graph/pool-head.ts';
import { probeVariant } from '../../src/explain/surgery.ts';
import { addOutputs, encodeModel } from '../../src/graph/surgery.ts';
import { Graph, add, conv2d, decodeModel, dense, float, flatten, globalAvgPool, matmul, mul, relu, reshape, sigmoid, sub, transpose, type Value } from '../../src/graph/index.ts';
import { concat, div, reduceMean, sqrt } from '../../src/graph/math.ts';
import { BUNDLE_FORMAT, BUNDLE_VERSION, presetSpec, writeBundle } from '../../src/infer/bundle.ts';
import { ModelSession } from '../../src/infer/session.ts';
import { createTagger } from '../../src/index.ts';
import { DEFAULT_OUTPUT, buildModel, exportInference } from '../../src/models/index.ts';
import { Rng } from '../../src/models/random.ts';
import { randomImages, randomWeights } from '../import/_fixtures.ts';

const T = 5, C = 6, S = 16;
const rng = new Rng(11);
const rand = (n: number, scale = 0.5) => Float32Array.from({ length: n }, () => rng.uniform(-scale, scale));

/** x NHWC → NCHW → conv 3×3 stride 2 → ReLU: [N, C, 8, 8]. */
function backbone(g: Graph, batch: number | string): Value {
  const x = g.input('input', 'float32', [batch, S, S, 3]);
  const w = g.initializer('backbone.w', rand(C * 3 * 9), [C, 3, 3, 3]);
  return relu(g, conv2d(g, transpose(g, x, [0, 3, 1, 2]), w, g.initializer('backbone.b', rand(C), [C]), { strides: [2, 2] }));
}

function finish(g: Graph, logits: Value): Uint8Array {
  g.output(sigmoid(g, logits), DEFAULT_OUTPUT);
  return g.toModel();
}

const MODELS = {
  /** tf2onnx's Keras GlobalAveragePooling2D on NHWC, then Dense as Gemm with every attribute in play. */
  nhwcGemm: () => {
    const g = new Graph('nhwc');
    const pooled = reduceMean(g, transpose(g, backbone(g, 'N'), [0, 2, 3, 1]), [1, 2], false);
    const logits = g.op('Gemm', [pooled, g.initializer('head.w', rand(T * C), [T, C]), g.initializer('head.b', rand(T), [T])], { transB: 1, alpha: float(0.5), beta: float(2) }, ['N', T]);
    return finish(g, logits);
  },
  /** A ViT-like token model: 4×4 patches plus a class token, mean over all 17 tokens, MatMul + Add. */
  tokens: () => {
    const g = new Graph('tokens');
    const x = g.input('input', 'float32', [1, S, S, 3]);
    const patches = conv2d(g, transpose(g, x, [0, 3, 1, 2]), g.initializer('patch.w', rand(C * 3 * 16), [C, 3, 4, 4]), null, { strides: [4, 4], padding: 'valid' });
    const seq = transpose(g, reshape(g, patches, [1, C, 16], [1, C, 16]), [0, 2, 1]);
    const tokens = concat(g, [g.initializer('cls', rand(C), [1, 1, C]), seq], 1);
    const pooled = reduceMean(g, tokens, [1], false);
    return finish(g, add(g, matmul(g, pooled, g.initializer('head.w', rand(C * T), [C, T])), g.initializer('head.b', rand(T), [T])));
  },
  /** GAP → a LayerNorm written out (its means keep their dims) → dense: pooled, but not linear after the pool. */
  layerNorm: () => {
    const g = new Graph('ln');
    const pooled = globalAvgPool(g, backbone(g, 'N'));
    const d = sub(g, pooled, reduceMean(g, pooled, [1], true));
    const normed = div(g, d, sqrt(g, add(g, reduceMean(g, mul(g, d, d), [1], true), g.scalar(1e-5))));
    return finish(g, dense(g, normed, g.initializer('head.w', rand(C * T), [C, T]), g.initializer('head.b', rand(T), [T])));
  },
  /** No pooling: the map is flattened into a dense layer. */
  flatten: () => {
    const g = new Graph('flat');
    const f = flatten(g, backbone(g, 'N'));
    return finish(g, dense(g, f, g.initializer('head.w', rand(C * 64 * T), [C * 64, T]), null));
  },
};

/** Run the probe variant with the logits exposed too, and the plain model on the same images. */
async function camAndLogits(model: Uint8Array, batch: number, size = S) {
  const v = probeVariant(model, DEFAULT_OUTPUT);
  const head = findPoolHead(decodeModel(model), DEFAULT_OUTPUT)!;
  const proto = decodeModel(v.model);
  addOutputs(proto, [head.logits!]);
  const x = randomImages(3, batch, size, size), dims = [batch, size, size, 3];
  const run = async (bytes: Uint8Array, fetches?: string[]) => {
    const session = await ModelSession.create(bytes, { threads: 1, spinning: false });
    try {
      return await session.run({ input: { data: x.slice(), dims } }, fetches);
    } finally {
      await session.release();
    }
  };
  const out = await run(encodeModel(proto), [v.cam!, head.logits!, v.features, DEFAULT_OUTPUT]);
  const plain = (await run(model))[DEFAULT_OUTPUT]!.data;
  return { cam: out[v.cam!]!.data, camDims: out[v.cam!]!.dims, logits: out[head.logits!]!.data, features: out[v.features]!.dims, predictions: out[DEFAULT_OUTPUT]!.data, plain };
}

/** The largest |mean over positions of cam[n, t] − logit[n, t]|. */
function meanError(cam: Float32Array, dims: readonly number[], logits: Float32Array): number {
  const [n, t] = [dims[0]!, dims[1]!], per = dims.slice(2).reduce((a, b) => a * b, 1);
  let worst = 0;
  for (let i = 0; i < n * t; i++) {
    let s = 0;
    for (let p = 0; p < per; p++) s += cam[i * per + p]!;
    worst = Math.max(worst, Math.abs(s / per - logits[i]!));
  }
  return worst;
}

describe('CAM surgery: the spatial mean of cam is the logit', () => {
  const own = (arch: string, size: number, poolBeforeHead: boolean) => {
    const spec = buildModel(arch, { tags: T, imageSize: [size, size] });
    return { model: exportInference(spec, randomWeights(spec, 3, 0.3), { poolBeforeHead }), size };
  };
  test.each([
    ['tagbooru export: GAP → MatMul', 'test_tiny', 32, true, 'matmul', [2, T, 4, 4]],
    ['conv 1×1 → GAP (DeepDanbooru as trained)', 'test_tiny', 32, false, 'none', [2, T, 4, 4]],
    ['resnet_152 head: AveragePool 7×7 → Flatten → Gemm + bias', 'test_tiny_dense', 56, true, 'matmul', [2, T, 7, 7]],
  ] as const)('%s', async (_, arch, size, poolBeforeHead, kind, camDims) => {
    const { model } = own(arch, size, poolBeforeHead);
    expect(findPoolHead(decodeModel(model), DEFAULT_OUTPUT)!.head.kind).toBe(kind);
    const r = await camAndLogits(model, 2, size);
    expect(r.camDims).toEqual(camDims);
    expect(meanError(r.cam, r.camDims, r.logits)).toBeLessThan(1e-5);
    expect(Array.from(r.predictions)).toEqual(Array.from(r.plain)); // the variant tags exactly as the model does
  });

  test('conv 1×1 → GAP: Score-CAM weighs the backbone (the conv\'s input), not the tag channels', () => {
    const spec = buildModel('test_tiny', { tags: T, imageSize: [32, 32] });
    const model = exportInference(spec, randomWeights(spec, 3), { poolBeforeHead: false });
    const head = findPoolHead(decodeModel(model), DEFAULT_OUTPUT)!;
    expect(head.backbone).not.toBeNull();
    expect(probeVariant(model, DEFAULT_OUTPUT).features).toBe(head.backbone);
  });

  test('tf2onnx NHWC ReduceMean → Gemm(transB, alpha 0.5, beta 2)', async () => {
    const r = await camAndLogits(MODELS.nhwcGemm(), 2);
    expect(r.camDims).toEqual([2, T, 8, 8]);
    expect(meanError(r.cam, r.camDims, r.logits)).toBeLessThan(1e-5);
  });

  test('tokens: mean over all 17 tokens; the grid is the last 16 (a class token first)', async () => {
    const r = await camAndLogits(MODELS.tokens(), 1);
    expect(r.camDims).toEqual([1, T, 17]);
    expect(r.features).toEqual([1, 17, C]);
    expect(meanError(r.cam, r.camDims, r.logits)).toBeLessThan(1e-5);
  });
});

describe('heads without a CAM', () => {
  test('a LayerNorm after the pool: no cam (with the reason), features still found (its LN means are not pools)', () => {
    const v = probeVariant(MODELS.layerNorm(), DEFAULT_OUTPUT);
    expect(v.cam).toBeNull();
    expect(v.camError).toMatch(/more than a linear layer/);
    expect(v.layout).toBe('NCHW');
  });

  test('no pooling at all: a clear error naming what works', () => {
    expect(() => probeVariant(MODELS.flatten(), DEFAULT_OUTPUT)).toThrow(/has no global average pooling .*use gradcam or saliency/);
  });
});

describe('the Tagger picks and refuses methods by head', () => {
  let dir: string;
  const bundle = async (name: string, model: Uint8Array) => {
    const b = await writeBundle(path.join(dir, name), {
      format: BUNDLE_FORMAT, version: BUNDLE_VERSION, name, model: 'model.onnx', input: { name: 'input', batch: 'dynamic' }, output: { name: DEFAULT_OUTPUT, activation: 'sigmoid' },
      preset: 'deepdanbooru', preprocess: presetSpec('deepdanbooru', { width: S, height: S }), tags: Array.from({ length: T }, (_, i) => ({ name: `tag_${i}`, category: 'general' })),
      thresholds: { default: 0.5 }, provenance: {},
    }, model);
    return b.dir;
  };
  const image = { name: 'noise', data: new Uint8Array(0) };
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-explain-head-'));
    const sharp = (await import('sharp')).default;
    const px = Uint8Array.from(randomImages(9, 1, 24, 24), (v) => Math.round(v * 255));
    image.data = new Uint8Array(await sharp(px, { raw: { width: 24, height: 24, channels: 3 } }).png().toBuffer());
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('LayerNorm head: scorecam by default; cam names the methods that work; gradcam asks for weights', async () => {
    const tagger = await createTagger(await bundle('ln', MODELS.layerNorm()), { threads: 1 });
    try {
      const r = await tagger.explain(image, { tags: ['tag_0', 'tag 1'], scorecamChannels: 3 });
      expect(r.method).toBe('scorecam');
      expect(r.tags.map((t) => t.name)).toEqual(['tag_0', 'tag_1']);
      expect(r.tags[0]!.map.width).toBe(S);
      await expect(tagger.explain(image, { method: 'cam', tags: ['tag_0'] })).rejects.toThrow(/cam needs a linear head .*Methods that work for it: scorecam$/);
      await expect(tagger.explain(image, { method: 'gradcam', tags: ['tag_0'] })).rejects.toThrow(/gradcam needs the training weights that tagbooru-trained bundles and \.h5\/\.keras imports carry; use scorecam \(.*no `weights` and no `spec` or `architecture`\)/);
    } finally {
      await tagger.close();
    }
  });

  test('tokens: cam by default, on the 4×4 patch grid behind the class token', async () => {
    const tagger = await createTagger(await bundle('tokens', MODELS.tokens()), { threads: 1 });
    try {
      const r = await tagger.explain(image, { tags: ['tag_2'] });
      expect(r.method).toBe('cam');
      expect([r.tags[0]!.map.width, r.tags[0]!.map.height]).toEqual([S, S]);
      const s = await tagger.explain(image, { tags: ['tag_2'], method: 'scorecam' });
      expect(s.tags[0]!.map.data.every((v) => v >= 0 && v <= 1)).toBe(true);
    } finally {
      await tagger.close();
    }
  });

  test('no pooling: every method refused, with the reason', async () => {
    const tagger = await createTagger(await bundle('flat', MODELS.flatten()), { threads: 1 });
    try {
      await expect(tagger.explain(image)).rejects.toThrow(/no method can explain this model: it has no global average pooling/);
      await expect(tagger.explain(image, { method: 'scorecam' })).rejects.toThrow(/has no global average pooling/);
    } finally {
      await tagger.close();
    }
  });
});
