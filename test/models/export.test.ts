/**
 * The inference export of each small architecture, run in ONNX Runtime, against the float64 oracle walking
 * the same spec. Every BN variable is random (no zero gamma, no identity statistics), so folding and the
 * head rewrite are exercised; logits are compared too, because probabilities hide errors where they saturate.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeModel } from '../../src/graph/index.ts';
import { ModelSession } from '../../src/infer/session.ts';
import { exportInference, type ExportOptions } from '../../src/models/export.ts';
import { initWeights } from '../../src/models/init.ts';
import { Rng } from '../../src/models/random.ts';
import { buildModel } from '../../src/models/registry.ts';
import { inputLayer, type ModelSpec, type Weights } from '../../src/models/spec.ts';
import { ErrorLog, maxAbsDiff, relativeError } from '../oracle/compare.ts';
import { referenceActivations } from '../oracle/reference.ts';

const SIZE = 64, TAGS = 7, BATCH = 3;
/** At 128 px test_tiny_dense's ap_final yields 2×2, so Flatten's NHWC order matters (at 64 px it is 1×1). */
const SIZES: Partial<Record<string, number>> = { test_tiny_dense: 128 };
const log = new ErrorLog();
afterAll(() => log.print('export: worst error vs float64 oracle'));

/** He-initialised kernels, then every BN variable and bias drawn at random. */
function randomWeights(spec: ModelSpec, seed: number): Weights {
  const weights = initWeights(spec, seed);
  const rng = new Rng(seed + 1);
  // gamma below 1 keeps 4-stage nets out of sigmoid saturation at 64 px
  const ranges: Record<string, [number, number]> = { gamma: [0.4, 1], beta: [-0.5, 0.5], moving_mean: [-0.5, 0.5], moving_variance: [0.5, 2], bias: [-0.1, 0.1] };
  for (const [key, data] of weights) {
    const range = ranges[key.split('/')[1]!];
    if (range) data.forEach((_, i) => (data[i] = rng.uniform(...range)));
  }
  return weights;
}

/** Per-sample gradients and offsets plus noise: inputs differ in more than noise, so pooled outputs differ too. */
function randomImages(rng: Rng, batch: number, size: number): Float32Array {
  const x = new Float32Array(batch * size * size * 3);
  for (let b = 0; b < batch; b++) {
    const g = Array.from({ length: 9 }, () => rng.uniform(-1, 1));
    for (let y = 0; y < size; y++) for (let xx = 0; xx < size; xx++) for (let c = 0; c < 3; c++) {
      const ramp = g[c]! * (y / size - 0.5) + g[3 + c]! * (xx / size - 0.5);
      x[((b * size + y) * size + xx) * 3 + c] = 0.5 + 0.5 * ramp + 0.2 * g[6 + c]! + rng.uniform(-0.25, 0.25);
    }
  }
  return x;
}

/** The same model without its final sigmoid: its output is the logits. */
function logitsSpec(spec: ModelSpec): ModelSpec {
  const sigmoid = spec.layers.find((l) => l.name === spec.output);
  if (sigmoid?.kind !== 'sigmoid') throw new Error(`${spec.name}: output ${spec.output} is not a sigmoid`);
  return { ...spec, layers: spec.layers.filter((l) => l !== sigmoid), output: sigmoid.input };
}

async function run(spec: ModelSpec, weights: Weights, options: ExportOptions, x: Float32Array, batch: number) {
  const [h, w, c] = inputLayer(spec).shape;
  const bytes = exportInference(spec, weights, options);
  const session = await ModelSession.create(bytes, { threads: 1, spinning: false });
  try {
    const out = (await session.run({ input: { data: x, dims: [batch, h, w, c] } })).predictions!;
    return { out, inputs: session.inputs, opTypes: decodeModel(bytes).graph?.node?.map((n) => n.opType) ?? [] };
  } finally {
    await session.release();
  }
}

const VARIANTS: Record<string, ExportOptions> = {
  default: {},
  'foldBatchNorm: false': { foldBatchNorm: false },
  'poolBeforeHead: false': { poolBeforeHead: false },
  'neither': { foldBatchNorm: false, poolBeforeHead: false },
};

describe.each(['test_tiny', 'test_tiny_dense', 'test_small', 'resnet_custom_narrow'])('%s export equals the oracle', (arch) => {
  const size = SIZES[arch] ?? SIZE;
  const spec = buildModel(arch, { tags: TAGS, imageSize: [size, size] });
  const weights = randomWeights(spec, 17);
  const x = randomImages(new Rng(5), BATCH, size);
  let probs: Float64Array, logits: Float64Array;
  beforeAll(() => {
    const acts = referenceActivations(spec, weights, x, BATCH);
    probs = acts.get(spec.output)!.data;
    logits = acts.get(logitsSpec(spec).output)!.data;
  });

  it('the oracle sees unsaturated outputs that depend on the input', () => {
    expect(probs.every((p) => p > 1e-3 && p < 1 - 1e-3)).toBe(true);
    expect(maxAbsDiff(logits.subarray(0, TAGS), logits.subarray(TAGS, 2 * TAGS))).toBeGreaterThan(1e-2);
  });

  it.each(Object.entries(VARIANTS))('%s', async (_, options) => {
    const { out, opTypes } = await run(spec, weights, options, x, BATCH);
    expect(out.dims).toEqual([BATCH, TAGS]);
    expect(out.data.every(Number.isFinite)).toBe(true);
    expect(log.record('probabilities (abs)', maxAbsDiff(out.data, probs))).toBeLessThanOrEqual(1e-5);
    const bns = spec.layers.filter((l) => l.kind === 'bn').length;
    expect(opTypes.filter((t) => t === 'BatchNormalization').length).toBe(options.foldBatchNorm === false ? bns : 0);
    const pooledHead = spec.layers.some((l) => l.kind === 'gap') && options.poolBeforeHead !== false;
    const convs = spec.layers.filter((l) => l.kind === 'conv').length;
    expect(opTypes.filter((t) => t === 'Conv').length).toBe(pooledHead ? convs - 1 : convs);
  });

  it.each(Object.entries(VARIANTS))('logits, %s', async (_, options) => {
    const { out } = await run(logitsSpec(spec), weights, options, x, BATCH);
    expect(log.record('logits (relative)', relativeError(out.data, logits))).toBeLessThanOrEqual(1e-5);
  });

  it('a fixed batch of 1 declares it and gives the first row', async () => {
    const { out, inputs } = await run(spec, weights, { batch: 1 }, x.subarray(0, size * size * 3), 1);
    expect(inputs).toEqual([{ name: 'input', shape: [1, size, size, 3] }]);
    expect(out.dims).toEqual([1, TAGS]);
    expect(log.record('probabilities (abs)', maxAbsDiff(out.data, probs.subarray(0, TAGS)))).toBeLessThanOrEqual(1e-5);
  });
});

it('a dynamic batch is named N and the output is predictions', async () => {
  const spec = buildModel('test_tiny', { tags: TAGS, imageSize: [SIZE, SIZE] });
  const session = await ModelSession.create(exportInference(spec, initWeights(spec, 0)));
  expect(session.inputs).toEqual([{ name: 'input', shape: ['N', SIZE, SIZE, 3] }]);
  expect(session.outputs).toEqual([{ name: 'predictions', shape: ['N', TAGS] }]);
  await session.release();
});
