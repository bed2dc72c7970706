/** Each calibration method against its formula, on synthetic scores with a known miscalibration. */
import { describe, expect, test } from 'vitest';
import { calibrator, interpolate } from '../../src/infer/calibration.ts';
import { Rng } from '../../src/models/random.ts';
import { fitIsotonic, fitPlatt, fitTemperature, fitTileWeights, poolAdjacentViolators, smoothedTargets } from '../../src/train/calibration-fit.ts';

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** Logits spread over [−span, span] and labels drawn with probability truth(z). */
function draw(n: number, span: number, truth: (z: number) => number, seed: number): { z: Float64Array; y: Float64Array } {
  const r = new Rng(seed);
  const z = Float64Array.from({ length: n }, () => r.uniform(-span, span));
  const y = Float64Array.from(z, (v) => (r.next() < truth(v) ? 1 : 0));
  return { z, y };
}

/** The cross-entropy of sigmoid(a·z + b) against Platt's targets, in float64: the oracle the fits' optimality is checked against. */
function nll(z: ArrayLike<number>, y: ArrayLike<number>, a: number, b: number): number {
  const pos = Array.from(y).filter((v) => v > 0.5).length, neg = y.length - pos;
  let s = 0;
  for (let i = 0; i < z.length; i++) {
    const p = sigmoid(a * z[i]! + b), t = y[i]! > 0.5 ? (pos + 1) / (pos + 2) : 1 / (neg + 2);
    s -= t * Math.log(p) + (1 - t) * Math.log(1 - p);
  }
  return s;
}

describe('temperature', () => {
  test('labels drawn with p = sigmoid(z / 3): the fit recovers T ≈ 3', () => {
    const { z, y } = draw(20_000, 12, (v) => sigmoid(v / 3), 1);
    const { temperature } = fitTemperature(z, y);
    expect(temperature).toBeGreaterThan(2.85);
    expect(temperature).toBeLessThan(3.15);
  });

  test('the fit is the NLL minimum: finite differences of the loss in 1/T vanish there, and both neighbours are worse', () => {
    const { z, y } = draw(3000, 6, (v) => sigmoid(v / 2), 2);
    const s = 1 / fitTemperature(z, y).temperature, h = 1e-5;
    const slope = (nll(z, y, s + h, 0) - nll(z, y, s - h, 0)) / (2 * h);
    expect(Math.abs(slope)).toBeLessThan(1e-3);
    expect(nll(z, y, s * 1.01, 0)).toBeGreaterThan(nll(z, y, s, 0));
    expect(nll(z, y, s * 0.99, 0)).toBeGreaterThan(nll(z, y, s, 0));
  });

  test('weight 0 leaves a pair out: the same fit as without it', () => {
    const { z, y } = draw(500, 6, (v) => sigmoid(v / 2), 3);
    const zs = Float64Array.of(...z, 5, 5, 5), ys = Float64Array.of(...y, 0, 0, 0), w = Float64Array.from(zs, (_, i) => (i < z.length ? 1 : 0));
    expect(fitTemperature(zs, ys, w).temperature).toBeCloseTo(fitTemperature(z, y).temperature, 9);
  });

  test('the calibrator is sigmoid(z / T)', () => {
    expect(calibrator('temperature', { temperature: 2 })(3)).toBeCloseTo(sigmoid(1.5), 12);
  });
});

describe('Platt', () => {
  test('labels drawn with p = sigmoid(0.5·z − 1): the fit recovers a ≈ 0.5, b ≈ −1', () => {
    const { z, y } = draw(20_000, 10, (v) => sigmoid(0.5 * v - 1), 4);
    const { a, b } = fitPlatt(z, y);
    expect(a).toBeGreaterThan(0.47);
    expect(a).toBeLessThan(0.53);
    expect(b).toBeGreaterThan(-1.08);
    expect(b).toBeLessThan(-0.92);
  });

  test('the fit is the NLL minimum: its gradient by central differences is 0', () => {
    const { z, y } = draw(3000, 8, (v) => sigmoid(1.7 * v + 0.6), 5);
    const { a, b } = fitPlatt(z, y), h = 1e-5;
    expect(Math.abs((nll(z, y, a + h, b) - nll(z, y, a - h, b)) / (2 * h))).toBeLessThan(1e-3);
    expect(Math.abs((nll(z, y, a, b + h) - nll(z, y, a, b - h)) / (2 * h))).toBeLessThan(1e-3);
  });

  test('perfectly separated labels give a finite slope (Platt\'s targets), not a step', () => {
    const z = [-3, -2, -1, 1, 2, 3], y = [0, 0, 0, 1, 1, 1];
    expect([...smoothedTargets(y)]).toEqual([0.2, 0.2, 0.2, 0.8, 0.8, 0.8]);
    const { a, b } = fitPlatt(z, y);
    expect(b).toBeCloseTo(0, 9);
    expect(a).toBeGreaterThan(0);
    // the optimum puts the mean score of each side on its target: Σ (sigmoid(a·z) − t)·z = 0
    expect(z.reduce((s, v, i) => s + (sigmoid(a * v) - (y[i] ? 0.8 : 0.2)) * v, 0)).toBeCloseTo(0, 9);
    expect(fitTemperature(z, y).temperature).toBeCloseTo(1 / a, 6);
  });

  test('the calibrator is sigmoid(a·z + b)', () => {
    expect(calibrator('platt', { a: 0.5, b: -1 })(4)).toBeCloseTo(sigmoid(1), 12);
  });
});

describe('tile weights (sigmoid(whole·z_w + tile·z_t + bias))', () => {
  /** Two correlated logits and labels drawn with probability sigmoid(a·z_w + b·z_t + c). */
  function drawPair(n: number, [a, b, c]: readonly number[], seed: number) {
    const r = new Rng(seed);
    const zw = Float64Array.from({ length: n }, () => r.uniform(-6, 6));
    const zt = Float64Array.from(zw, (v) => 0.5 * v + r.uniform(-5, 5));
    const y = Float64Array.from(zw, (v, i) => (r.next() < sigmoid(a! * v + b! * zt[i]! + c!) ? 1 : 0));
    return { zw, zt, y };
  }
  /** The fit's objective in float64: the cross-entropy against Platt's targets (weights 0 dropped) plus the unit prior towards (1, 0). */
  function objective(zw: ArrayLike<number>, zt: ArrayLike<number>, y: ArrayLike<number>, w: ArrayLike<number>, p: readonly number[]): number {
    let pos = 0, neg = 0;
    for (let i = 0; i < y.length; i++) {
      if (!w[i]) continue;
      if (y[i]! > 0.5) pos++;
      else neg++;
    }
    let s = ((p[0]! - 1) ** 2 + p[1]! ** 2) / 2;
    for (let i = 0; i < y.length; i++) {
      if (!w[i]) continue;
      const q = sigmoid(p[0]! * zw[i]! + p[1]! * zt[i]! + p[2]!), t = y[i]! > 0.5 ? (pos + 1) / (pos + 2) : 1 / (neg + 2);
      s -= t * Math.log(q) + (1 - t) * Math.log(1 - q);
    }
    return s;
  }

  test('labels drawn with sigmoid(0.6·z_w + 0.8·z_t − 1): the fit recovers the weights', () => {
    const { zw, zt, y } = drawPair(40_000, [0.6, 0.8, -1], 11);
    const [a, b, c] = fitTileWeights(zw, zt, y);
    expect(Math.abs(a - 0.6)).toBeLessThan(0.05);
    expect(Math.abs(b - 0.8)).toBeLessThan(0.05);
    expect(Math.abs(c + 1)).toBeLessThan(0.08);
  });

  test('the fit is the objective\'s minimum, unknown labels left out: its gradient by central differences is 0', () => {
    const { zw, zt, y } = drawPair(3000, [1.3, -0.4, 0.5], 12);
    const r = new Rng(13), w = Float64Array.from(y, () => (r.next() < 0.2 ? 0 : 1));
    const p = fitTileWeights(zw, zt, y, w), h = 1e-5;
    for (let k = 0; k < 3; k++) {
      const up = p.map((v, j) => (j === k ? v + h : v)), down = p.map((v, j) => (j === k ? v - h : v));
      expect(Math.abs((objective(zw, zt, y, w, up) - objective(zw, zt, y, w, down)) / (2 * h)), `parameter ${k}`).toBeLessThan(1e-3);
    }
    // the unknown labels matter: flipping them does not move the fit
    const flipped = Float64Array.from(y, (v, i) => (w[i] ? v : 1 - v));
    fitTileWeights(zw, zt, flipped, w).forEach((v, k) => expect(v).toBeCloseTo(p[k]!, 9));
  });

  test('a tile that says nothing gets weight near 0; with a handful of images the prior holds the whole image\'s score', () => {
    const { zw, zt, y } = drawPair(20_000, [1, 0, 0], 14);
    expect(Math.abs(fitTileWeights(zw, zt, y)[1])).toBeLessThan(0.03);
    const few = fitTileWeights([-2, -1, 1, 2], [3, -3, 3, -3], [0, 0, 1, 1]);
    expect(Math.abs(few[1])).toBeLessThan(Math.abs(few[0]));
  });
});

describe('isotonic', () => {
  test('pool-adjacent-violators on a hand example', () => {
    // 3 > 2 pools to 2.5; 4 > 3 pools to 3.5; weighted: (1·4 + 3·0) / 4
    expect([...poolAdjacentViolators([1, 3, 2, 4, 3, 5])]).toEqual([1, 2.5, 2.5, 3.5, 3.5, 5]);
    expect([...poolAdjacentViolators([4, 0], [1, 3])]).toEqual([1, 1]);
    expect([...poolAdjacentViolators([3, 2, 1])]).toEqual([2, 2, 2]);
  });

  test('the fit on a hand example: sorted by logit, pooled, one breakpoint at each end of a block', () => {
    // by z: y = 0, 1, 0, 1, 1 → PAV 0, ½, ½, 1, 1
    const fit = fitIsotonic([-2, -1, 0, 1, 2], [0, 1, 0, 1, 1]);
    expect(fit).toEqual({ x: [-2, -1, 0, 1, 2], y: [0, 0.5, 0.5, 1, 1] });
    const c = calibrator('isotonic', fit);
    expect([-3, -2, -1.5, -0.5, 0.5, 3].map(c)).toEqual([0, 0, 0.25, 0.5, 0.75, 1]);
  });

  test('equal logits map to one value (their mean label)', () => {
    expect(fitIsotonic([0, 0, 0, 1], [1, 0, 0, 1])).toEqual({ x: [0, 1], y: [1 / 3, 1] });
  });

  test('on miscalibrated draws the output is monotone and near the true frequency', () => {
    const { z, y } = draw(20_000, 9, (v) => sigmoid(v / 3), 6);
    const fit = fitIsotonic(z, y);
    for (let i = 1; i < fit.x.length; i++) {
      expect(fit.x[i]!).toBeGreaterThanOrEqual(fit.x[i - 1]!);
      expect(fit.y[i]!).toBeGreaterThanOrEqual(fit.y[i - 1]!);
    }
    for (const v of [-6, -3, 0, 3, 6]) expect(Math.abs(interpolate(fit.x, fit.y, v) - sigmoid(v / 3))).toBeLessThan(0.06);
  });
});
