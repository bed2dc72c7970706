import { describe, expect, test } from 'vitest';
import { FEED, FETCH, buildTrainingStep } from '../../src/autodiff/step-graph.ts';
import { ModelSession } from '../../src/infer/session.ts';
import { buildModel } from '../../src/models/registry.ts';
import type { Layer, ModelSpec } from '../../src/models/spec.ts';
import { inferShapes } from '../../src/models/shapes.ts';
import { referenceTrainForward, toFloat64 } from '../oracle/training.ts';
import { runGradients } from './_harness.ts';

/**
 * The input gradient of input → `layer` → 1×1 conv (weight 1) → global average pool → sigmoid, for one image of
 * [h, w, 1] and one label: every cell of the layer's output carries the same upstream gradient.
 */
async function gradientThrough(layer: Layer, x: Float32Array, [h, w]: [number, number], label: number): Promise<Float32Array> {
  const spec: ModelSpec = {
    name: 'through',
    layers: [
      { kind: 'input', name: 'in', shape: [h, w, 1] },
      { ...layer, name: 'l', input: 'in' } as Layer,
      { kind: 'conv', name: 'c', input: 'l', filters: 1, kernel: [1, 1], strides: [1, 1], padding: 'same', useBias: false },
      { kind: 'gap', name: 'g', input: 'c' },
      { kind: 'sigmoid', name: 'out', input: 'g' },
    ],
    output: 'out',
  };
  const step = buildTrainingStep(spec, { batch: 1, loss: 'binary_crossentropy', optimizer: { name: 'sgd' }, outputs: 'gradients', inputGradient: true });
  const session = await ModelSession.create(step.model, { threads: 1 });
  try {
    const out = await session.run({ [FEED.x]: { data: x, dims: [1, h, w, 1] }, [FEED.labels]: { data: Float32Array.of(label), dims: [1, 1] }, [FEED.mask]: { data: Float32Array.of(1), dims: [1, 1] }, [FEED.weight('c/kernel')]: { data: Float32Array.of(1), dims: [1, 1, 1, 1] } });
    return out[FETCH.inputGrad]!.data;
  } finally {
    await session.release();
  }
}

describe('ReLU gradient', () => {
  test('passes the whole gradient where the output is positive, down to the smallest normal float, and none at 0', async () => {
    const x = Float32Array.of(-1, 0, -0, 2 ** -126, 1e-30, 1, 1e30, -(2 ** -126));
    const gx = await gradientThrough({ kind: 'relu', name: 'l', input: 'in' }, x, [2, 4], 0);
    const upstream = gx[5]!;
    expect(upstream).toBeGreaterThan(0); // label 0: the logit's gradient is σ(z) = 1
    expect([...gx].map((v) => v + 0)).toEqual([...x].map((v) => (v > 0 ? upstream : 0))); // −0 and 0 alike
  });
});

describe('MaxPool gradient at ties', () => {
  test('each window sends its gradient to its first maximum; overlapping windows add up', async () => {
    // maxpool 3×3/2 SAME: every window holds a tie (constant 2×2 blocks)
    const x = new Float32Array(36);
    for (let y = 0; y < 6; y++) for (let c = 0; c < 6; c++) x[y * 6 + c] = Math.floor(y / 2) * 3 + Math.floor(c / 2);
    const gx = await gradientThrough({ kind: 'maxpool', name: 'l', input: 'in', pool: [3, 3], strides: [2, 2], padding: 'same' }, x, [6, 6], 1);
    // the expected routing: pads (0,1) on 6 → 3 windows per axis starting at 0, 2, 4; first max in row-major order
    const expected = new Float64Array(36);
    for (const oy of [0, 1, 2]) for (const ox of [0, 1, 2]) {
      let best = -Infinity, at = -1;
      for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) {
        const yy = oy * 2 + dy, xx = ox * 2 + dx;
        if (yy < 6 && xx < 6 && x[yy * 6 + xx]! > best) [best, at] = [x[yy * 6 + xx]!, yy * 6 + xx];
      }
      expected[at]! += 1;
    }
    const scale = gx.reduce((a, b) => a + b, 0) / 9; // every window carries the same upstream gradient
    expect(Math.abs(scale)).toBeGreaterThan(0);
    for (let i = 0; i < 36; i++) expect(gx[i]! / scale).toBeCloseTo(expected[i]!, 5);
  });
});

describe('BatchNormalization moving statistics', () => {
  test('Keras update: moving·0.99 + batch·0.01, with the unbiased batch variance', async () => {
    const spec = buildModel('test_tiny', { tags: 3, imageSize: [16, 16] });
    const shapes = inferShapes(spec);
    const p = await runGradients({ spec, batch: 3 });
    const ref = referenceTrainForward(spec, toFloat64(p.weights), p.x, 3);
    expect(ref.batchStats.size).toBe(spec.layers.filter((l) => l.kind === 'bn').length);
    for (const [layer, stats] of ref.batchStats) {
      const [h, w] = shapes.get(layer)!;
      const n = 3 * h! * w!;
      const newMean = p.outputs[FETCH.newWeight(`${layer}/moving_mean`)]!.data;
      const newVar = p.outputs[FETCH.newWeight(`${layer}/moving_variance`)]!.data;
      const oldMean = p.weights.get(`${layer}/moving_mean`)!, oldVar = p.weights.get(`${layer}/moving_variance`)!;
      for (let c = 0; c < stats.mean.length; c++) {
        expect(newMean[c]).toBeCloseTo(oldMean[c]! * 0.99 + stats.mean[c]! * 0.01, 5);
        expect(newVar[c]).toBeCloseTo(oldVar[c]! * 0.99 + stats.variance[c]! * (n / (n - 1)) * 0.01, 5);
      }
    }
  });
});

describe('bounded weight-gradient buffers', () => {
  test('splitting the unfold over the batch gives the same gradients', async () => {
    const spec = buildModel('test_tiny', { tags: 4, imageSize: [16, 16] });
    const whole = await runGradients({ spec, batch: 4 });
    const split = await runGradients({ spec, batch: 4 }, { unfoldBudget: 1 });
    for (const [name, t] of Object.entries(whole.outputs)) {
      if (!name.startsWith('grad:')) continue;
      const other = split.outputs[name]!.data;
      const scale = Math.max(...t.data.map(Math.abs), 1e-12);
      for (let i = 0; i < t.data.length; i++) expect(Math.abs(t.data[i]! - other[i]!) / scale).toBeLessThan(1e-5);
    }
  });
});

