import { afterAll, describe, expect, test } from 'vitest';
import type { Defence, DefenceImage } from '../../src/image/defence.ts';
import { Rng } from '../../src/models/random.ts';
import { buildModel } from '../../src/models/registry.ts';
import { attackGradient, defendedLogits, type ThreatModel } from '../../src/robust/defended.ts';
import type { GoalTerms } from '../../src/robust/goals.ts';
import { randomWeights } from '../autodiff/_harness.ts';
import { victimOf } from './_victim.ts';

const spec = buildModel('test_tiny', { tags: 4, imageSize: [15, 18] });
const victim = victimOf(spec, randomWeights(spec, 4));
afterAll(async () => (await victim).close());
const N = 2, SIZE = 15 * 18 * 3, T = 4;
const rng = new Rng(6);
const x = Float32Array.from({ length: N * SIZE }, () => rng.next());
const terms: GoalTerms[] = Array.from({ length: N }, () => ({
  sign: Float32Array.from({ length: T }, () => (rng.next() < 0.5 ? -1 : 1)),
  offset: Float32Array.from({ length: T }, () => 30),
  weight: Float32Array.from({ length: T }, () => rng.uniform(0.5, 1)),
}));

/** JPEG-like: quantise to 8 levels, the non-differentiable step BPDA exists for. */
function quantiser(calls: { apply: number }): Defence {
  return {
    name: 'quantise', randomised: false,
    apply(image: DefenceImage) {
      calls.apply++;
      return Promise.resolve({ ...image, data: image.data.map((v) => Math.round(v * 7) / 7) });
    },
  };
}

/** Randomised: a shift of every pixel by one draw, with a backward that scales by 1 + draw (to see the replay). */
function noisy(calls: { apply: number; backward: number; draws: number[] }, withBackward: boolean): Defence {
  return {
    name: 'noisy', randomised: true,
    apply(image, r) {
      calls.apply++;
      const u = r();
      calls.draws.push(u);
      return Promise.resolve({ ...image, data: image.data.map((v) => Math.min(1, Math.max(0, v + (u - 0.5) * 0.1))) });
    },
    ...(withBackward ? {
      backward(_image: DefenceImage, upstream: Float32Array, r: () => number) {
        calls.backward++;
        const u = r();
        return Promise.resolve(upstream.map((g) => g * (1 + u)));
      },
    } : {}),
  };
}

function threat(defence: Defence, adaptive: boolean, eot = 1, seed = 1): ThreatModel {
  const r = new Rng(seed);
  return { defence, adaptive, eot, rng: () => r.next() };
}

describe('adaptive attacks through a defence', () => {
  test('BPDA through a quantiser is straight-through: the gradient passed back is the upstream one, at the defended image', async () => {
    const v = await victim, calls = { apply: 0 };
    const defence = quantiser(calls);
    const quantised = x.map((p) => Math.round(p * 7) / 7);
    const adaptive = await attackGradient(v, x, N, terms, threat(defence, true));
    const upstream = await v.gradient(quantised, N, terms);
    expect(adaptive.grad).toEqual(upstream.grad);
    expect(adaptive.loss).toEqual(upstream.loss);
    expect(calls.apply).toBe(N);
    // and the quantiser does change the gradient: BPDA is not the same as ignoring the defence
    const plain = await v.gradient(x, N, terms);
    expect(Math.max(...plain.grad.map((g, i) => Math.abs(g - upstream.grad[i]!)))).toBeGreaterThan(1e-4);
  });

  test('naive: the undefended model\'s gradient, the defence never called; its logits still go through the defence', async () => {
    const v = await victim, calls = { apply: 0 };
    const naive = await attackGradient(v, x, N, terms, threat(quantiser(calls), false));
    expect(naive.grad).toEqual((await v.gradient(x, N, terms)).grad);
    expect(calls.apply).toBe(0);
    const logits = await defendedLogits(v, x, N, threat(quantiser(calls), false));
    expect(calls.apply).toBe(N);
    expect(logits).toEqual(await v.logits(x.map((p) => Math.round(p * 7) / 7), N));
  });

  test('EOT averages exactly n draws per image, each draw\'s gradient the one at that draw', async () => {
    const v = await victim, calls = { apply: 0, backward: 0, draws: [] as number[] };
    const eot = 5;
    const r = await attackGradient(v, x, N, terms, threat(noisy(calls, false), true, eot, 3));
    expect(calls.apply).toBe(eot * N);
    // recompute the mean by hand from the recorded draws (draw k: images 0..N−1 in order)
    const expected = new Float64Array(N * SIZE);
    for (let k = 0; k < eot; k++) {
      const shifted = x.map((p, j) => Math.min(1, Math.max(0, p + (calls.draws[k * N + Math.floor(j / SIZE)]! - 0.5) * 0.1)));
      const g = await v.gradient(shifted, N, terms);
      g.grad.forEach((gj, j) => (expected[j]! += gj / eot));
    }
    for (let j = 0; j < expected.length; j += 13) expect(r.grad[j]).toBeCloseTo(expected[j]!, 6);
  });

  test('a deterministic defence is drawn once whatever --eot says', async () => {
    const calls = { apply: 0 };
    await attackGradient(await victim, x, N, terms, threat(quantiser(calls), true, 7));
    expect(calls.apply).toBe(N);
  });

  test('a defence with a backward gets its forward\'s draw replayed, and its vector-Jacobian product is used', async () => {
    const v = await victim, calls = { apply: 0, backward: 0, draws: [] as number[] };
    const r = await attackGradient(v, x, N, terms, threat(noisy(calls, true), true, 1, 8));
    expect(calls.backward).toBe(N);
    const shifted = x.map((p, j) => Math.min(1, Math.max(0, p + (calls.draws[Math.floor(j / SIZE)]! - 0.5) * 0.1)));
    const upstream = (await v.gradient(shifted, N, terms)).grad;
    for (let j = 0; j < upstream.length; j += 11) expect(r.grad[j]).toBeCloseTo(upstream[j]! * (1 + calls.draws[Math.floor(j / SIZE)]!), 5);
  });

});
