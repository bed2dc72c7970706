import { afterAll, describe, expect, test } from 'vitest';
import { buildGradCamGraph, buildSaliencyGraph } from '../../src/autodiff/explain-graph.ts';
import { TagbooruError } from '../../src/errors.ts';
import { ModelSession, type TensorData } from '../../src/infer/session.ts';
import { DEFAULT_INPUT, DEFAULT_OUTPUT, exportInference } from '../../src/models/export.ts';
import { Rng } from '../../src/models/random.ts';
import { buildModel } from '../../src/models/registry.ts';
import { inputLayer, type Layer, type ModelSpec, type Weights } from '../../src/models/spec.ts';
import { ErrorLog, relativeError } from '../oracle/compare.ts';
import { referenceActivations, type Tensor } from '../oracle/reference.ts';
import { centralDifference } from '../oracle/training.ts';
import { compare, outputWidth, randomWeights } from './_harness.ts';

// float32 graph against float64 central differences; inference-mode BN amplifies nothing, so ~1e-6 is typical
const NORM_REL = 1e-4;
const MAX_REL = 1e-2;
const log = new ErrorLog();

interface Fixture {
  readonly spec: ModelSpec;
  readonly weights: Weights;
  readonly batch: number;
  readonly x: Float32Array;
  readonly seed: Float32Array;
}

/** Random weights with randomised BN moving statistics, an image batch in [0, 1) and a seed in [−1, 1). */
function fixture(spec: ModelSpec, batch: number, s = 1): Fixture {
  const rng = new Rng(s);
  const [h, w, c] = inputLayer(spec).shape;
  const x = Float32Array.from({ length: batch * h * w * c }, () => rng.uniform(0, 1));
  const seed = Float32Array.from({ length: batch * outputWidth(spec) }, () => rng.uniform(-1, 1));
  return { spec, weights: randomWeights(spec, s + 100), batch, x, seed };
}

async function run(model: Uint8Array, f: Fixture): Promise<Record<string, TensorData>> {
  const session = await ModelSession.create(model, { threads: 1 });
  try {
    return await session.run({ x: { data: f.x, dims: [f.batch, ...inputLayer(f.spec).shape] }, seed: { data: f.seed, dims: [f.batch, outputWidth(f.spec)] } });
  } finally {
    await session.release();
  }
}

function logitsLayer(spec: ModelSpec): string {
  const out = spec.layers.find((l) => l.name === spec.output)!;
  return out.kind === 'sigmoid' ? out.input : out.name;
}

/** Σ seed·logits of the float64 oracle (moving statistics), with activations replaced as `replace` says. */
function objective(f: Fixture, x: ArrayLike<number>, replace?: ReadonlyMap<string, Tensor>): number {
  const logits = referenceActivations(f.spec, f.weights, x, f.batch, replace).get(logitsLayer(f.spec))!.data;
  return logits.reduce((acc, v, i) => acc + v * f.seed[i]!, 0);
}

/** NHWC index of an [n,h,w,c] tensor → the same element's index in NCHW. */
function nchwIndex(shape: readonly number[], i: number): number {
  const [, h, w, c] = shape as [number, number, number, number];
  const ch = i % c, p = Math.floor(i / c), xx = p % w, y = Math.floor(p / w) % h, b = Math.floor(p / (w * h));
  return ((b * c + ch) * h + y) * w + xx;
}

/** Central differences at sampled entries (random ones plus the largest analytic ones) against `grad`. */
function expectGradient(label: string, values: Float64Array, f: () => number, grad: ArrayLike<number>, at: (i: number) => number, samples = 12): void {
  const rng = new Rng(7);
  const largest = [...values.keys()].sort((a, b) => Math.abs(grad[at(b)]!) - Math.abs(grad[at(a)]!)).slice(0, 3);
  const idx = [...largest, ...Array.from({ length: samples }, () => rng.int(values.length))];
  const numeric = idx.map((i) => centralDifference(values, i, f));
  const analytic = idx.map((i) => grad[at(i)]!);
  const { normRel, maxRel } = compare(analytic, numeric);
  log.record(`${label} normRel`, normRel);
  log.record(`${label} maxRel`, maxRel);
  expect(Math.max(...numeric.map(Math.abs)), `${label}: a gradient that is zero everywhere checks nothing`).toBeGreaterThan(1e-3);
  expect(normRel, `${label} normRel`).toBeLessThan(NORM_REL);
  expect(maxRel, `${label} maxRel`).toBeLessThan(MAX_REL);
}

async function expectSaliency(f: Fixture): Promise<void> {
  const out = await run(buildSaliencyGraph(f.spec, f.weights, { batch: f.batch }).model, f);
  expect(out.input_grad!.dims).toEqual([f.batch, ...inputLayer(f.spec).shape]);
  const x64 = Float64Array.from(f.x);
  expectGradient(`${f.spec.name} input`, x64, () => objective(f, x64), out.input_grad!.data, (i) => i);
  await expectProbs(f, out.probs!);
}

async function expectGradCam(f: Fixture, layer: string | undefined, expected: string): Promise<void> {
  const built = buildGradCamGraph(f.spec, f.weights, { batch: f.batch, layer });
  expect(built.layer).toBe(expected);
  const out = await run(built.model, f);
  const act = referenceActivations(f.spec, f.weights, f.x, f.batch).get(expected)!;
  const [n, h, w, c] = act.shape as [number, number, number, number];
  expect(out.features!.dims).toEqual([n, c, h, w]);
  expect(out.features_grad!.dims).toEqual([n, c, h, w]);
  const features = Float64Array.from(act.data, (_, i) => out.features!.data[nchwIndex(act.shape, i)]!);
  expect(relativeError(features, act.data)).toBeLessThan(1e-5);
  const replace = new Map([[expected, act]]);
  expectGradient(`${f.spec.name} ${expected}`, act.data, () => objective(f, f.x, replace), out.features_grad!.data, (i) => nchwIndex(act.shape, i));
  await expectProbs(f, out.probs!);
}

/** `probs` is what the inference export computes on the same weights. */
async function expectProbs(f: Fixture, probs: TensorData): Promise<void> {
  const session = await ModelSession.create(exportInference(f.spec, f.weights, { batch: f.batch }), { threads: 1 });
  const out = await session.run({ [DEFAULT_INPUT]: { data: f.x, dims: [f.batch, ...inputLayer(f.spec).shape] } });
  await session.release();
  const expected = out[DEFAULT_OUTPUT]!.data;
  expect(probs.dims).toEqual([f.batch, outputWidth(f.spec)]);
  expect(Math.max(...probs.data.map((p, i) => Math.abs(p - expected[i]!)))).toBeLessThan(1e-5);
}

// 15 × 18: odd and even, asymmetric SAME pads in the stem (width), the max pool (height) and the stride-2 stage
const tiny = () => fixture(buildModel('test_tiny', { tags: 4, imageSize: [15, 18] }), 2);
const dense = () => fixture(buildModel('test_tiny_dense', { tags: 3, imageSize: [64, 64] }), 2, 3);

/** Eval-mode rules the resnets never reach: a max pool with unequal strides, BN after a pool, SE, bias, avgpool. */
function oddSpec(): ModelSpec {
  const L: Layer[] = [
    { kind: 'input', name: 'in', shape: [11, 13, 3] },
    { kind: 'conv', name: 'c1', input: 'in', filters: 4, kernel: [3, 3], strides: [1, 1], padding: 'same', useBias: true },
    { kind: 'relu', name: 'r1', input: 'c1' },
    { kind: 'maxpool', name: 'mp', input: 'r1', pool: [3, 2], strides: [2, 1], padding: 'same' },
    { kind: 'bn', name: 'b1', input: 'mp', epsilon: 1e-3, momentum: 0.99 },
    { kind: 'gap', name: 'se_gap', input: 'b1' },
    { kind: 'dense', name: 'se_d', input: 'se_gap', units: 4, useBias: true },
    { kind: 'sigmoid', name: 'se_s', input: 'se_d' },
    { kind: 'multiply', name: 'se_mul', inputs: ['b1', 'se_s'] },
    { kind: 'avgpool', name: 'ap', input: 'se_mul', pool: [2, 2], strides: [2, 2], padding: 'valid' },
    { kind: 'flatten', name: 'fl', input: 'ap' },
    { kind: 'dense', name: 'head', input: 'fl', units: 5, useBias: true },
    { kind: 'sigmoid', name: 'out', input: 'head' },
  ];
  return { name: 'odd', layers: L, output: 'out' };
}

describe('explanation graphs against float64 finite differences (inference mode)', () => {
  test('saliency: the input gradient on test_tiny', () => expectSaliency(tiny()));
  test('Grad-CAM at the default layer, the input of the 1×1 conv → GAP head', () => expectGradCam(tiny(), undefined, 'activation_12'));
  test('Grad-CAM at the stem max pool (two consumers: the gradients add up)', () => expectGradCam(tiny(), 'max_pooling2d', 'max_pooling2d'));
  test('Grad-CAM at a stride-2 conv whose BN scale is pending', () => expectGradCam(tiny(), 'conv2d_9', 'conv2d_9'));
  test('the resnet_152 head (7×7 average pool, flatten, dense): saliency', () => expectSaliency(dense()));
  test('the resnet_152 head: Grad-CAM defaults to the input of its average pool', () => expectGradCam(dense(), undefined, 'activation_9'));
  test('unequal max-pool strides, BN after a pool, squeeze-excitation', () => expectSaliency(fixture(oddSpec(), 2, 5)));
});

describe('explanation graphs', () => {
  test('a symbolic batch gives the same outputs as a fixed one', async () => {
    const f = tiny();
    for (const build of [(b: number | string) => buildSaliencyGraph(f.spec, f.weights, { batch: b }).model, (b: number | string) => buildGradCamGraph(f.spec, f.weights, { batch: b, layer: 'max_pooling2d' }).model]) {
      const [fixed, symbolic] = [await run(build(f.batch), f), await run(build('N'), f)];
      for (const [name, t] of Object.entries(fixed)) expect(symbolic[name]!.data, name).toEqual(t.data);
    }
  });

  test('Grad-CAM rejects a layer that is unknown, a vector, or not upstream of the logits', () => {
    const f = tiny();
    for (const layer of ['nope', 'global_average_pooling2d', 'activation_13']) {
      const err = (() => {
        try {
          buildGradCamGraph(f.spec, f.weights, { batch: 1, layer });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(TagbooruError);
      expect((err as TagbooruError).code).toBe('E_USAGE');
      expect((err as Error).message).toContain(`for layer but received "${layer}"`);
      expect((err as Error).message).toContain('"activation_12"');
    }
  });

  test('a missing weight is named', () => {
    const f = tiny();
    const weights = new Map(f.weights);
    weights.delete('batch_normalization_3/moving_variance');
    expect(() => buildSaliencyGraph(f.spec, weights, { batch: 1 })).toThrow('missing weight batch_normalization_3/moving_variance');
  });
});

afterAll(() => log.print('explanation gradients, worst error per check'));
