import { describe, expect, test } from 'vitest';
import { energyScore, judge, knnScore, logitsOf, mahalanobisScore, normalised, scoreOf } from '../../src/infer/ood.ts';
import { chooseK, evenlySpaced, fitKnnBank, quantile, thresholdLooseness } from '../../src/train/knn-fit.ts';
import { auroc, fitMahalanobis, fitOod, thresholdAt } from '../../src/train/ood-fit.ts';

describe('OOD scores', () => {
  test('energy is minus the JointEnergy, −Σ log(1 + e^z), stable for large logits', () => {
    // log(1+e^0) = ln 2; log(1+e^2) = 2.126928; log(1+e^-3) = 0.048587
    expect(energyScore([0, 2, -3])).toBeCloseTo(-(Math.LN2 + 2.1269280110429727 + 0.04858735157374206), 12);
    expect(energyScore([1000, -1000])).toBeCloseTo(-1000, 9); // no Infinity from e^1000
    expect(energyScore(logitsOf([0.5, 0.8807970779778823]))).toBeCloseTo(-(Math.LN2 + Math.log(1 + Math.E ** 2)), 5);
  });

  test('Mahalanobis distance with W = L⁻¹ of Σ = L Lᵀ', () => {
    // Σ = [[4, 2], [2, 5]] = L Lᵀ with L = [[2, 0], [1, 2]]; L⁻¹ = [[0.5, 0], [-0.25, 0.5]]
    const params = { mean: Float32Array.of(1, -1), whiten: Float32Array.of(0.5, 0, -0.25, 0.5) };
    // d = f − μ = (3, 1): dᵀ Σ⁻¹ d with Σ⁻¹ = [[5, −2], [−2, 4]] / 16 → (45 − 12 + 4) / 16 = 37/16
    expect(mahalanobisScore([4, 0], params)).toBeCloseTo(Math.sqrt(37 / 16), 6);
    expect(mahalanobisScore([1, -1], params)).toBe(0);
    expect(() => mahalanobisScore([1, 2, 3], params)).toThrow(/3 pooled features but the OOD fit has 2/);
  });

  test('fitMahalanobis recovers the sample mean and covariance (no shrinkage) and shrinks towards tr(S)/C · I', () => {
    const xs = [[0, 0], [2, 0], [0, 2], [2, 2], [1, 1]];
    // mean (1, 1); S = [[1, 0], [0, 1]] (sum of squares 4 over n − 1 = 4)
    const plain = fitMahalanobis(xs, 0);
    expect([...plain.mean]).toEqual([1, 1]);
    expect(mahalanobisScore([3, 1], plain)).toBeCloseTo(2, 6);
    // correlated: x₂ = x₁ + small noise; shrinkage 0.5 gives Σ̂ = 0.5 S + 0.5 (tr S / 2) I
    const ys = [[-1, -1.1], [0, 0.1], [1, 1], [2, 2.1], [3, 2.9]];
    const fit = fitMahalanobis(ys, 0.5);
    const m = [1, 1], n = ys.length;
    const s = [0, 0, 0, 0];
    for (const y of ys) for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) s[i * 2 + j]! += ((y[i]! - m[i]!) * (y[j]! - m[j]!)) / (n - 1);
    const tr = (s[0]! + s[3]!) / 2;
    const a = 0.5 * s[0]! + 0.5 * tr, b = 0.5 * s[1]!, d = 0.5 * s[3]! + 0.5 * tr;
    const det = a * d - b * b;
    const v = [2, -1]; // f − μ for f = (3, 0)
    const expected = Math.sqrt((d * v[0]! * v[0]! - 2 * b * v[0]! * v[1]! + a * v[1]! * v[1]!) / det);
    expect(fit.mean[1]).toBeCloseTo(1, 6);
    expect(mahalanobisScore([3, 0], fit)).toBeCloseTo(expected, 4);
  });

  test('the threshold flags at most the flag rate: the 98th percentile for 0.02', () => {
    const scores = Array.from({ length: 100 }, (_, i) => 100 - i); // 1 … 100, shuffled order
    expect(thresholdAt(scores, 0.02)).toBe(98);
    expect(scores.filter((s) => judge(s, 98).flagged)).toEqual([100, 99]);
    expect(thresholdAt(scores, 0)).toBe(100);
    expect(thresholdAt(Array.from({ length: 150 }, (_, i) => i + 1), 0.02)).toBe(147); // 3 of 150 above
    expect(() => thresholdAt([], 0.02)).toThrow(/no in-distribution scores/);
  });

  test('AUROC counts ties as one half (hand-computed)', () => {
    // pairs (out, in): out 3 vs in {1, 2, 3}: 1 + 1 + 0.5; out 2: 1 + 0.5 + 0; out 0: 0 → 4 / 9
    expect(auroc([1, 2, 3], [3, 2, 0])).toBeCloseTo(4 / 9, 12);
    expect(auroc([0, 1], [2, 3])).toBe(1);
    expect(auroc([2, 3], [0, 1])).toBe(0);
    expect(auroc([1, 1], [1, 1, 1])).toBe(0.5);
  });

  test('fitOod holds out every fifth image for the thresholds and names a missing feature output', () => {
    const inputs = Array.from({ length: 50 }, (_, i) => ({ logits: Float32Array.of(i % 7, -(i % 3)), features: Float32Array.of(i % 5, (i * 7) % 11) }));
    const fit = fitOod(inputs, { flagRate: 0.1 });
    expect(fit.method).toBe('mahalanobis-l2');
    expect(fit.provenance).toMatchObject({ fitImages: 40, validationImages: 10 });
    const validation = inputs.filter((_, i) => i % 5 === 4);
    expect(fit.thresholds.energy).toBe(thresholdAt(validation.map((x) => energyScore(x.logits)), 0.1));
    // every feature score is fitted on the 40 and thresholded on the 10 alike
    expect(Object.keys(fit.thresholds).sort()).toEqual(['energy', 'knn', 'mahalanobis', 'mahalanobis-l2']);
    expect(fit.thresholds.knn).toBe(thresholdAt(validation.map((x) => scoreOf('knn', x, fit.params)), 0.1));
    expect(fit.params.knn!.rows).toBe(40);
    const noFeatures = inputs.map((x) => ({ logits: x.logits, features: null }));
    expect(fitOod(noFeatures).method).toBe('energy');
    expect(fitOod(noFeatures).params).toEqual({});
    expect(() => fitOod(noFeatures, { method: 'mahalanobis' })).toThrow(/use --method energy/);
    expect(() => fitOod(noFeatures, { method: 'knn' })).toThrow(/--method knn needs the pooled features/);
    expect(fitOod(inputs, { bankSize: 7, k: 7 }).params.knn).toMatchObject({ rows: 7, k: 7 });
    expect(() => fitOod(inputs, { bankSize: 7, k: 8 })).toThrow(/integer between 1 and 7 \(the knn bank's rows\) for --k but received 8/);
  });
});

describe('kNN distance on L2-normalised features', () => {
  // unit rows: e1, e2, (e1 + e2)/√2, −e1 in 3-d
  const h = Math.SQRT1_2;
  const bank = Float32Array.of(1, 0, 0, 0, 1, 0, h, h, 0, -1, 0, 0);

  test('the k-th nearest row by distance, √(2 − 2 cos), whatever the length of the query', () => {
    // f = (3, 0, 4): z = (0.6, 0, 0.8); cosines 0.6, 0, 0.6·h, −0.6 → sorted 0.6, 0.4243, 0, −0.6
    const f = [3, 0, 4];
    const cos = [0.6, 0.6 * h, 0, -0.6];
    for (const [k, c] of cos.entries()) expect(knnScore(f, { bank, rows: 4, k: k + 1 })).toBeCloseTo(Math.sqrt(2 - 2 * c), 7);
    // the distance is that of the unit vectors: ‖z − e1‖ = √((0.6 − 1)² + 0.8²)
    expect(knnScore(f, { bank, rows: 4, k: 1 })).toBeCloseTo(Math.hypot(0.4, 0.8), 7);
    expect(knnScore([30, 0, 40], { bank, rows: 4, k: 2 })).toBe(knnScore(f, { bank, rows: 4, k: 2 }));
    // a row of the bank itself is at 0 from its nearest; the zero vector is at √2 from all (cos 0), not NaN
    expect(knnScore([0, 2, 0], { bank, rows: 4, k: 1 })).toBe(0);
    expect(knnScore([0, 0, 0], { bank, rows: 4, k: 3 })).toBeCloseTo(Math.SQRT2, 12);
    expect(() => knnScore(f, { bank, rows: 4, k: 5 })).toThrow(/integer from 1 to its 4 bank rows but is 5/);
    expect(() => knnScore([1, 2], { bank, rows: 4, k: 1 })).toThrow(/gives 2 pooled features but the OOD fit.s bank rows have 3/);
  });

  test('the bank keeps evenly spaced normalised rows; mahalanobis-l2 scores the normalised features', () => {
    expect(evenlySpaced([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 4)).toEqual([0, 3, 6, 9]);
    expect(evenlySpaced([0, 1, 2], 5)).toEqual([0, 1, 2]);
    expect(evenlySpaced([0, 1, 2], 1)).toEqual([0]);
    // 3 of 4: positions 0, 1.5 → 2, 3
    const { bank: b, rows } = fitKnnBank([[3, 4], [0, 2], [5, 0], [1, 1]], 3);
    expect(rows).toBe(3);
    expect([...b].map((v) => +v.toFixed(6))).toEqual([0.6, 0.8, 1, 0, 0.707107, 0.707107]);
    const gaussian = { mean: Float32Array.of(0.6, 0.8), whiten: Float32Array.of(2, 0, 0, 4) };
    // z = (0, 1): W (z − μ) = (2·(−0.6), 4·0.2)
    expect(scoreOf('mahalanobis-l2', { logits: Float32Array.of(0), features: Float32Array.of(0, 5) }, { 'mahalanobis-l2': gaussian })).toBeCloseTo(Math.hypot(1.2, 0.8), 6);
    expect([...normalised([0, 0])]).toEqual([0, 0]);
  });

  test('k is chosen by the threshold looseness of the validation scores, with the order statistics hand-computed', () => {
    expect(quantile([0, 10, 20, 30, 40], 0.5)).toBe(20);
    expect(quantile([0, 10, 20, 30, 40], 0.9)).toBeCloseTo(36, 12); // position 3.6
    // 101 scores 0 … 100: IQR 50; flag rate 0.02 → Q(0.99) − Q(0.97) = 99 − 97
    const scores = Array.from({ length: 101 }, (_, i) => 100 - i);
    expect(thresholdLooseness(scores, 0.02)).toBeCloseTo(2 / 50, 12);
    // a heavy upper tail: the top 5 of 101 become 200 … 1000 → Q(0.99) = 800 (position 99), Q(0.97) = 400, IQR 50
    const tail = scores.map((s) => (s > 95 ? 200 * (s - 95) : s));
    expect(thresholdLooseness(tail, 0.02)).toBeCloseTo((800 - 400) / 50, 9);
    expect(thresholdLooseness([1, 1, 1, 1], 0.02)).toBe(Infinity);

    // a bank of one tight cluster of 3 rows around e1 and one of 50 around e2: the query points all sit by
    // e1, so with k ≤ 3 their distances are small and spread, and with k ≥ 4 they are that to the far cluster
    const near = (i: number, axis: number) => { const f = [0.05 * Math.sin(i), 0.05 * Math.cos(3 * i), 0.05 * Math.sin(7 * i)]; f[axis] = 1; return f; };
    const rows = [...Array.from({ length: 3 }, (_, i) => near(i + 1, 0)), ...Array.from({ length: 50 }, (_, i) => near(i + 10, 1))];
    const fitted = fitKnnBank(rows, 100);
    const validation = Array.from({ length: 40 }, (_, i) => near(i + 100, 0));
    const choice = chooseK(fitted, validation, 0.02);
    const looseness = [1, 2, 3, 5, 10, 20, 50].map((k) => thresholdLooseness(validation.map((f) => knnScore(f, { ...fitted, k })), 0.02));
    expect(choice.k).toBe([1, 2, 3, 5, 10, 20, 50][looseness.indexOf(Math.min(...looseness))]);
    expect(choice.why).toMatch(/^the smallest threshold looseness on the validation images \(1: [\d.]+, 2: [\d.]+, 3: [\d.]+, 5: [\d.]+, 10: [\d.]+, 20: [\d.]+, 50: [\d.]+\)$/); // 100 > 53 rows: left out
    expect(chooseK(fitted, validation, 0.02, 4)).toEqual({ k: 4, why: 'given' });
    expect(() => chooseK(fitted, validation, 0.02, 54)).toThrow(/integer between 1 and 53/);
  });
});
