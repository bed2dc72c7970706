import { describe, expect, test } from 'vitest';
import { energyScore, judge, logitsOf, mahalanobisScore } from '../../src/infer/ood.ts';
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
    expect(fit.method).toBe('mahalanobis');
    expect(fit.provenance).toMatchObject({ fitImages: 40, validationImages: 10 });
    const validation = inputs.filter((_, i) => i % 5 === 4).map((x) => energyScore(x.logits));
    expect(fit.thresholds.energy).toBe(thresholdAt(validation, 0.1));
    const noFeatures = inputs.map((x) => ({ logits: x.logits, features: null }));
    expect(fitOod(noFeatures).method).toBe('energy');
    expect(() => fitOod(noFeatures, { method: 'mahalanobis' })).toThrow(/use --method energy/);
  });
});
