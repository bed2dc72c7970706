import { describe, expect, test } from 'vitest';
import { FEED, FETCH, buildTrainingStep } from '../../src/autodiff/step-graph.ts';
import type { OptimizerConfig } from '../../src/autodiff/optimizers.ts';
import { ModelSession, type TensorData } from '../../src/infer/session.ts';
import { buildModel } from '../../src/models/registry.ts';
import { Rng } from '../../src/models/random.ts';
import { randomWeights } from './_harness.ts';

const spec = buildModel('test_tiny', { tags: 4, imageSize: [16, 16] });
const BATCH = 2;

async function run(optimizer: OptimizerConfig, outputs: 'update' | 'gradients', feeds: Record<string, TensorData>) {
  const step = buildTrainingStep(spec, { batch: BATCH, loss: 'binary_crossentropy', optimizer, outputs });
  const session = await ModelSession.create(step.model, { threads: 1 });
  const out = await session.run(feeds);
  await session.release();
  return { out, step };
}

/** The update each optimizer should make, written out as in the Keras sources. */
function textbook(o: OptimizerConfig, w: number, g: number, slots: Record<string, number>, lr: number, t: number, decay: boolean): { w: number; slots: Record<string, number> } {
  const eps = 1e-7;
  let next: number;
  const s: Record<string, number> = {};
  if (o.name === 'sgd') {
    const mu = o.momentum ?? 0.9;
    s.momentum = mu * slots.momentum! - lr * g;
    next = (o.nesterov ?? true) ? w + mu * s.momentum - lr * g : w + s.momentum;
  } else if (o.name === 'adam') {
    s.m = 0.9 * slots.m! + 0.1 * g;
    s.v = 0.999 * slots.v! + 0.001 * g * g;
    const lrT = (lr * Math.sqrt(1 - 0.999 ** t)) / (1 - 0.9 ** t);
    next = w - (lrT * s.m) / (Math.sqrt(s.v) + eps);
  } else {
    s.rms = 0.9 * slots.rms! + 0.1 * g * g;
    next = w - (lr * g) / (Math.sqrt(s.rms) + eps);
  }
  if (decay && o.weightDecay) next -= lr * o.weightDecay * w;
  return { w: next, slots: s };
}

describe('in-graph optimizer updates equal the textbook formulas', () => {
  test.each<[string, OptimizerConfig, number]>([
    ['sgd + Nesterov momentum (DeepDanbooru)', { name: 'sgd', momentum: 0.9, nesterov: true }, 1],
    ['sgd + momentum', { name: 'sgd', momentum: 0.9, nesterov: false }, 1],
    ['adam at t=1', { name: 'adam' }, 1],
    ['adam at t=5', { name: 'adam' }, 5],
    ['rmsprop', { name: 'rmsprop' }, 3],
    ['adam + weight decay', { name: 'adam', weightDecay: 0.01 }, 2],
  ])('%s', async (_name, optimizer, t) => {
    const rng = new Rng(4);
    const weights = randomWeights(spec, 9);
    const base: Record<string, TensorData> = {
      [FEED.x]: { data: Float32Array.from({ length: BATCH * 16 * 16 * 3 }, () => rng.next()), dims: [BATCH, 16, 16, 3] },
      [FEED.labels]: { data: Float32Array.from({ length: BATCH * 4 }, () => rng.int(2)), dims: [BATCH, 4] },
      [FEED.mask]: { data: new Float32Array(BATCH * 4).fill(1), dims: [BATCH, 4] },
    };
    const { out: grads, step } = await run(optimizer, 'gradients', { ...base, ...Object.fromEntries(step0(weights)) });
    const lr = 0.05;
    const feeds: Record<string, TensorData> = { ...base, ...Object.fromEntries(step0(weights)), [FEED.lr]: { data: Float32Array.of(lr), dims: [] }, [FEED.step]: { data: Float32Array.of(t), dims: [] } };
    const slotData = new Map<string, Float32Array>();
    for (const v of step.variables) if (v.trainable) for (const s of step.slots) {
      // non-zero slots, so the decay terms are exercised; rms and v must stay positive
      const d = Float32Array.from({ length: weights.get(v.key)!.length }, () => (s === 'v' || s === 'rms' ? rng.uniform(0, 1e-3) : rng.uniform(-0.01, 0.01)));
      slotData.set(`${v.key}:${s}`, d);
      feeds[FEED.slot(v.key, s)] = { data: d, dims: v.shape };
    }
    const { out: updated } = await run(optimizer, 'update', feeds);
    let checked = 0, worst = 0;
    for (const v of step.variables) {
      if (!v.trainable) continue;
      const w = weights.get(v.key)!, g = grads[FETCH.grad(v.key)]!.data, nw = updated[FETCH.newWeight(v.key)]!.data;
      for (let i = 0; i < w.length; i += Math.max(1, Math.floor(w.length / 7))) {
        const slots = Object.fromEntries(step.slots.map((s) => [s, slotData.get(`${v.key}:${s}`)![i]!]));
        const want = textbook(optimizer, w[i]!, g[i]!, slots, lr, t, v.key.endsWith('/kernel'));
        // float32 cannot place w + step closer than a couple of ulps of w
        const err = Math.max(0, Math.abs(nw[i]! - want.w) - 2.4e-7 * Math.abs(w[i]!));
        worst = Math.max(worst, err / Math.max(Math.abs(want.w - w[i]!), 1e-9));
        for (const s of step.slots) expect(updated[FETCH.newSlot(v.key, s)]!.data[i]).toBeCloseTo(want.slots[s]!, 6);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(50);
    // relative to the size of the step taken
    expect(worst).toBeLessThan(1e-3);
  });
});

function step0(weights: Map<string, Float32Array>): [string, TensorData][] {
  return buildTrainingStep(spec, { batch: BATCH, loss: 'binary_crossentropy', optimizer: { name: 'sgd' }, outputs: 'gradients' }).variables.map((v) => [FEED.weight(v.key), { data: weights.get(v.key)!, dims: v.shape }]);
}
