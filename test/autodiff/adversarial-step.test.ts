/**
 * Adversarial training inside the step graph (src/autodiff/adversarial.ts): the input gradient the attack
 * follows is ∂L/∂x at the attack point (float64 finite differences), the perturbation stays in the ε-ball and
 * the pixel range and equals the closed form on linear models, unknown labels do not steer it, and as ε → 0 the
 * step's update, moving statistics included, is the clean step's.
 */
import { describe, expect, test } from 'vitest';
import { DEBUG_OUTPUTS, type AdversarialOptions } from '../../src/autodiff/adversarial.ts';
import { FEED, buildTrainingStep, type StepGraphOptions } from '../../src/autodiff/step-graph.ts';
import { ModelSession, type TensorData } from '../../src/infer/session.ts';
import { Rng } from '../../src/models/random.ts';
import { buildModel } from '../../src/models/registry.ts';
import { inputLayer, type ModelSpec, type Weights } from '../../src/models/spec.ts';
import { centralDifference, referenceObjective, toFloat64 } from '../oracle/training.ts';
import { compare, outputWidth, randomWeights } from './_harness.ts';
import { linearSpec } from '../helpers/linear-spec.ts';

const EPS = 8 / 255;

interface Batch {
  readonly x: Float32Array;
  readonly labels: Float32Array;
  readonly mask: Float32Array;
  readonly noise: Float32Array;
  /** With the one-tag goal: [attacked, tags]. */
  readonly attackMask?: Float32Array;
}

function randomBatch(spec: ModelSpec, batch: number, attacked: number, seed: number, unknown = 0): Batch {
  const rng = new Rng(seed);
  const per = inputLayer(spec).shape.reduce((p, d) => p * d, 1), tags = outputWidth(spec);
  return {
    x: Float32Array.from({ length: batch * per }, () => rng.uniform(0, 1)),
    labels: Float32Array.from({ length: batch * tags }, () => (rng.next() < 0.4 ? 1 : 0)),
    mask: Float32Array.from({ length: batch * tags }, () => (rng.next() < unknown ? 0 : 1)),
    noise: Float32Array.from({ length: attacked * per }, () => rng.uniform(-1, 1)),
  };
}

/** A step graph's session, run on any weights and batch; `adversarial` adds the attack (with its debug outputs). */
async function stepSession(spec: ModelSpec, o: Partial<StepGraphOptions> & { batch: number }, adversarial?: Partial<AdversarialOptions>) {
  const adv = adversarial && { method: 'fgsm-rs', eps: EPS, steps: 1, stepSize: 1.25 * EPS, ratio: 1, debug: true, ...adversarial } as const;
  const step = buildTrainingStep(spec, { loss: 'binary_crossentropy', optimizer: { name: 'sgd' }, outputs: 'gradients', ...o, adversarial: adv });
  const session = await ModelSession.create(step.model, { threads: 1 });
  const run = (weights: Weights, b: Batch) => {
    const dims = [o.batch, ...inputLayer(spec).shape], tags = outputWidth(spec);
    const feeds: Record<string, TensorData> = { [FEED.x]: { data: b.x, dims }, [FEED.labels]: { data: b.labels, dims: [o.batch, tags] }, [FEED.mask]: { data: b.mask, dims: [o.batch, tags] } };
    if (step.noise) feeds[FEED.noise] = { data: b.noise.subarray(0, step.noise.reduce((p, d) => p * d, 1)), dims: step.noise };
    if (step.attackMask) feeds[FEED.attackMask] = { data: b.attackMask!, dims: step.attackMask };
    for (const v of step.variables) {
      feeds[FEED.weight(v.key)] = { data: weights.get(v.key)!, dims: v.shape };
      for (const s of step.slots) if (v.trainable) feeds[FEED.slot(v.key, s)] = { data: new Float32Array(weights.get(v.key)!.length), dims: v.shape };
    }
    if (o.outputs === 'update') Object.assign(feeds, { [FEED.lr]: { data: Float32Array.of(0.1), dims: [] }, [FEED.step]: { data: Float32Array.of(1), dims: [] } });
    return session.run(feeds);
  };
  return { run, close: () => session.release() };
}

/** One run of a fresh step session. */
async function runStep(spec: ModelSpec, weights: Weights, b: Batch, o: Partial<StepGraphOptions> & { batch: number }, adversarial?: Partial<AdversarialOptions>): Promise<Record<string, TensorData>> {
  const s = await stepSession(spec, o, adversarial);
  try {
    return await s.run(weights, b);
  } finally {
    await s.close();
  }
}

const clip = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);

describe('the attack inside the step graph', () => {
  test('its input gradient is ∂L/∂x at the attack point (float64 finite differences), unknown labels masked', async () => {
    const spec = buildModel('test_tiny', { tags: 4, imageSize: [16, 16] });
    const batch = 3, attacked = 2;
    const weights = randomWeights(spec, 5), b = randomBatch(spec, batch, attacked, 2, 0.3);
    const out = await runStep(spec, weights, b, { batch }, { ratio: 0.5 });
    const start = Float64Array.from(out[DEBUG_OUTPUTS.start]!.data), grad = out[DEBUG_OUTPUTS.grad]!.data;
    expect(out[DEBUG_OUTPUTS.start]!.dims).toEqual([attacked, 16, 16, 3]);
    // the random start: x + ε·u, clipped to the pixel range
    start.forEach((v, i) => expect(v).toBeCloseTo(clip(b.x[i]! + EPS * b.noise[i]!, 0, 1), 6));
    // the attack loss is the training loss of the attacked samples alone, with their batch statistics and mask
    const tags = outputWidth(spec), w64 = toFloat64(weights);
    const f = () => referenceObjective(spec, w64, start, attacked, b.labels.subarray(0, attacked * tags), 'binary_crossentropy', b.mask.subarray(0, attacked * tags));
    const rng = new Rng(3);
    const largest = [...grad.keys()].sort((i, j) => Math.abs(grad[j]!) - Math.abs(grad[i]!)).slice(0, 4);
    const idx = [...largest, ...Array.from({ length: 14 }, () => rng.int(start.length))];
    const numeric = idx.map((i) => centralDifference(start, i, f));
    const { normRel, maxRel } = compare(idx.map((i) => grad[i]!), numeric);
    expect(Math.max(...numeric.map(Math.abs))).toBeGreaterThan(1e-5);
    expect(normRel).toBeLessThan(5e-4);
    expect(maxRel).toBeLessThan(2e-2);
  }, 20_000);

  test('the step trains on clip(clip(a0 + α·sign ∇, x ± ε), 0, 1) for the first ⌈ratio·N⌉ samples and on x for the rest', async () => {
    const spec = buildModel('test_tiny', { tags: 3, imageSize: [12, 12] });
    const batch = 4, attacked = 3; // ⌈0.6·4⌉
    const b = randomBatch(spec, batch, attacked, 4);
    b.x.fill(0, 0, 40); // pixels at the range's ends: the clip to [0, 1] must bind
    b.x.fill(1, 40, 80);
    const out = await runStep(spec, randomWeights(spec, 6), b, { batch }, { ratio: 0.6 });
    const start = out[DEBUG_OUTPUTS.start]!.data, grad = out[DEBUG_OUTPUTS.grad]!.data, adv = out[DEBUG_OUTPUTS.x]!.data;
    const per = 12 * 12 * 3, alpha = 1.25 * EPS;
    let moved = 0, atEdge = 0;
    for (let i = 0; i < batch * per; i++) {
      const x = b.x[i]!, a = adv[i]!;
      if (i >= attacked * per) {
        expect(a).toBe(x);
        continue;
      }
      expect(Math.abs(a - x)).toBeLessThanOrEqual(EPS + 1e-6);
      expect(a).toBeGreaterThanOrEqual(0);
      expect(a).toBeLessThanOrEqual(1);
      expect(a).toBeCloseTo(clip(clip(start[i]! + alpha * Math.sign(grad[i]!), x - EPS, x + EPS), 0, 1), 6);
      if (Math.abs(a - x) > EPS / 2) moved++;
      if (Math.abs(Math.abs(a - x) - EPS) < 1e-6) atEdge++;
    }
    // FGSM-RS with α = 1.25ε puts most pixels on the ball's surface
    expect(moved / (attacked * per)).toBeGreaterThan(0.5);
    expect(atEdge / (attacked * per)).toBeGreaterThan(0.3);
    // PGD's later iterates, through BN's batch statistics, stay in the ball and the range too
    const pgd = (await runStep(spec, randomWeights(spec, 6), b, { batch }, { ratio: 0.6, method: 'pgd', steps: 3, stepSize: EPS / 2 }))[DEBUG_OUTPUTS.x]!.data;
    let differs = 0;
    pgd.forEach((a, i) => {
      const x = b.x[i]!;
      if (i >= attacked * per) return void expect(a).toBe(x);
      expect(Math.abs(a - x)).toBeLessThanOrEqual(EPS + 1e-6);
      expect(a >= 0 && a <= 1).toBe(true);
      if (Math.abs(a - adv[i]!) > 1e-6) differs++;
    });
    expect(differs).toBeGreaterThan(0); // three steps of ε/2 are not FGSM-RS's one of 1.25ε
  }, 20_000);

  test('on a linear model FGSM-RS is the closed form and PGD reaches the optimal attack x ± ε·sign(w), in pixel units under a normalisation', async () => {
    const size = 4, per = size * size * 3, spec = linearSpec(size, size, 1);
    const rng = new Rng(8);
    const w = Float32Array.from({ length: per }, () => rng.uniform(-1, 1)), weights: Weights = new Map([['head/kernel', w], ['head/bias', Float32Array.of(0.1)]]);
    // a normalised input: x = p·scale[c] + offset[c]; the budget is ε in p, so ε·scale[c] in x
    const pixel = { scale: [2, 0.5, 4], offset: [-1, 0.25, 0] };
    const p = Float32Array.from({ length: 2 * per }, () => rng.uniform(0, 1));
    const x = p.map((v, i) => v * pixel.scale[i % 3]! + pixel.offset[i % 3]!);
    const b: Batch = { x, labels: Float32Array.of(0, 1), mask: Float32Array.of(1, 1), noise: Float32Array.from({ length: 2 * per }, () => rng.uniform(-1, 1)) };
    // label 0: the loss rises with the logit, so the attack moves along +w; label 1 along −w
    const direction = (i: number) => (i < per ? 1 : -1) * Math.sign(w[i % per]!);
    const toX = (pv: number, i: number) => pv * pixel.scale[i % 3]! + pixel.offset[i % 3]!;

    const fgsm = (await runStep(spec, weights, b, { batch: 2 }, { pixel }))[DEBUG_OUTPUTS.x]!.data;
    fgsm.forEach((v, i) => {
      const start = clip(p[i]! + EPS * b.noise[i]!, 0, 1);
      expect(v).toBeCloseTo(toX(clip(clip(start + 1.25 * EPS * direction(i), p[i]! - EPS, p[i]! + EPS), 0, 1), i), 5);
    });
    // 4 steps of 2.5ε/4 cover 2.5ε: from any start in the ball PGD ends on the optimum
    const pgd = (await runStep(spec, weights, b, { batch: 2 }, { pixel, method: 'pgd', steps: 4, stepSize: (2.5 * EPS) / 4 }))[DEBUG_OUTPUTS.x]!.data;
    pgd.forEach((v, i) => expect(v).toBeCloseTo(toX(clip(p[i]! + EPS * direction(i), 0, 1), i), 5));
  }, 20_000);

  test('an unknown label does not steer the attack; a known one does', async () => {
    const spec = buildModel('test_tiny', { tags: 4, imageSize: [12, 12] });
    const weights = randomWeights(spec, 9), b = randomBatch(spec, 2, 2, 10);
    b.mask[1] = 0;
    const step = await stepSession(spec, { batch: 2 }, {});
    const advOf = async (labels: Float32Array, mask = b.mask) => (await step.run(weights, { ...b, labels, mask }))[DEBUG_OUTPUTS.x]!.data;
    const flip = (i: number) => b.labels.map((v, k) => (k === i ? 1 - v : v));
    const base = await advOf(b.labels);
    expect(await advOf(flip(1))).toEqual(base);
    expect(await advOf(flip(1), new Float32Array(8).fill(1))).not.toEqual(await advOf(b.labels, new Float32Array(8).fill(1)));
    await step.close();
  }, 20_000);

  test('one-tag: the attack climbs the loss of the one label its attack mask names, whatever the loss mask says', async () => {
    const spec = buildModel('test_tiny', { tags: 4, imageSize: [12, 12] });
    const weights = randomWeights(spec, 13), b = randomBatch(spec, 3, 2, 14);
    const attackMask = Float32Array.of(0, 0, 1, 0, 1, 0, 0, 0); // sample 0: tag 2; sample 1: tag 0
    const oneTag = await runStep(spec, weights, { ...b, attackMask }, { batch: 3 }, { ratio: 0.5, goal: 'one-tag' });
    // the all-tags attack whose loss mask keeps those two labels alone (the third sample trains clean)
    const masked = await runStep(spec, weights, { ...b, mask: Float32Array.from([...attackMask, 1, 1, 1, 1]) }, { batch: 3 }, { ratio: 0.5 });
    const all = await runStep(spec, weights, b, { batch: 3 }, { ratio: 0.5 });
    const grad = oneTag[DEBUG_OUTPUTS.grad]!.data;
    expect(oneTag[DEBUG_OUTPUTS.grad]!.dims).toEqual([2, 12, 12, 3]);
    expect(Math.max(...grad.map(Math.abs))).toBeGreaterThan(1e-6);
    grad.forEach((v, i) => expect(v).toBeCloseTo(masked[DEBUG_OUTPUTS.grad]!.data[i]!, 6));
    expect(oneTag[DEBUG_OUTPUTS.x]!.data).toEqual(masked[DEBUG_OUTPUTS.x]!.data);
    expect(oneTag[DEBUG_OUTPUTS.x]!.data).not.toEqual(all[DEBUG_OUTPUTS.x]!.data);
  }, 20_000);

  test('as ε → 0 the update, moving statistics included, is the clean step\'s; at 8/255 it is not', async () => {
    const spec = buildModel('test_tiny', { tags: 3, imageSize: [12, 12] });
    const weights = randomWeights(spec, 11), b = randomBatch(spec, 4, 2, 12);
    const o = { batch: 4, outputs: 'update', optimizer: { name: 'sgd' } } as const; // Adam's first step is lr·sign(g): it would amplify float32 noise in near-zero gradients
    const clean = await runStep(spec, weights, b, o);
    const tiny = await runStep(spec, weights, b, o, { eps: 1e-7, stepSize: 1.25e-7, ratio: 0.5 });
    const full = await runStep(spec, weights, b, o, { ratio: 0.5 });
    const keys = Object.keys(clean).filter((k) => k.startsWith('new:') && !k.slice(4).includes(':'));
    expect(keys.some((k) => k.endsWith('/moving_mean'))).toBe(true);
    let far = 0;
    for (const k of keys) {
      const c = clean[k]!.data, scale = Math.max(...c.map((v, i) => Math.abs(v - weights.get(k.slice(4))![i]!)), 1e-6);
      // relative to the change the clean step makes to each tensor: ~1e-6 at ε = 1e-7, 0.004–0.5 at 8/255; moving
      // statistics the attack passes updated (over 2 of the 4 samples) would differ by as much as the latter
      const diff = (o2: Record<string, TensorData>) => Math.max(...o2[k]!.data.map((v, i) => Math.abs(v - c[i]!))) / scale;
      expect(diff(tiny), k).toBeLessThan(1e-4);
      far = Math.max(far, diff(full));
    }
    expect(far).toBeGreaterThan(0.05);
  }, 20_000);

  test('a ratio that attacks no sample builds the clean graph', () => {
    const spec = buildModel('test_tiny', { tags: 3, imageSize: [12, 12] });
    const o = { batch: 4, loss: 'binary_crossentropy', optimizer: { name: 'sgd' } } as const;
    const none = buildTrainingStep(spec, { ...o, adversarial: { method: 'fgsm-rs', eps: EPS, steps: 1, stepSize: EPS, ratio: 0 } });
    expect(none.noise).toBeNull();
    expect(none.nodes).toBe(buildTrainingStep(spec, o).nodes);
    expect(buildTrainingStep(spec, { ...o, adversarial: { method: 'fgsm-rs', eps: EPS, steps: 1, stepSize: EPS, ratio: 0.1 } }).noise).toEqual([1, 12, 12, 3]);
  });
});
