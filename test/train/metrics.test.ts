import { describe, expect, test } from 'vitest';
import { averagePrecision, computeMetrics, fitThresholds } from '../../src/train/metrics.ts';

describe('metrics', () => {
  test('micro and macro F1, precision, recall on a worked example', () => {
    // 4 samples × 2 tags
    const probs = [0.9, 0.2, 0.6, 0.7, 0.4, 0.1, 0.8, 0.9];
    const labels = [1, 0, 0, 1, 1, 0, 1, 1];
    const m = computeMetrics(probs, labels, ['a', 'b']);
    // tag a: tp 2 (0.9, 0.8), fp 1 (0.6), fn 1 (0.4) → P 2/3 R 2/3; tag b: tp 2, fp 0, fn 0
    expect(m.perTag[0]).toMatchObject({ precision: 2 / 3, recall: 2 / 3, support: 3 });
    expect(m.perTag[1]).toMatchObject({ precision: 1, recall: 1, f1: 1, support: 2 });
    expect(m.microPrecision).toBeCloseTo(4 / 5);
    expect(m.microRecall).toBeCloseTo(4 / 5);
    expect(m.macroF1).toBeCloseTo((2 / 3 + 1) / 2);
  });

  test('average precision ranks by score', () => {
    expect(averagePrecision([0.9, 0.8, 0.1], [1, 0, 1])).toBeCloseTo((1 + 2 / 3) / 2);
    expect(averagePrecision([0.1, 0.2], [0, 0])).toBeNaN();
    expect(averagePrecision([0.3, 0.9, 0.5], [1, 1, 1])).toBe(1);
  });

  test('fitted thresholds separate a separable tag and never beat themselves on F1', () => {
    const probs = [0.3, 0.9, 0.35, 0.8, 0.2, 0.4, 0.32, 0.1];
    const labels = [1, 0, 1, 0, 0, 1, 0, 0];
    const t = fitThresholds(probs, labels, 2);
    // tag 0 scores: 0.3 0.35 0.2 0.32 with labels 1 1 0 0 → best cut between 0.32 and 0.3? F1 at ≥0.3: tp2 fp1 → 0.8; at ≥0.35: tp1 → 0.667
    expect(t[0]).toBeGreaterThan(0.2);
    expect(t[0]).toBeLessThanOrEqual(0.3);
    const fitted = computeMetrics(probs, labels, ['a', 'b'], t);
    const fixed = computeMetrics(probs, labels, ['a', 'b'], 0.5);
    expect(fitted.macroF1).toBeGreaterThanOrEqual(fixed.macroF1);
    // tag 1 ranks two negatives above its positive: the best any threshold can do is F1 = 0.5
    expect(fitted.perTag[1]!.f1).toBeCloseTo(0.5);
  });
});
