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

describe('metrics with unknown labels (known mask 0: neither positive nor negative)', () => {
  // the worked example above: 4 samples × 2 tags
  const probs = [0.9, 0.2, 0.6, 0.7, 0.4, 0.1, 0.8, 0.9];
  const labels = [1, 0, 0, 1, 1, 0, 1, 1];

  test('an unknown negative scored high is no false positive; an unknown positive scored low is no false negative nor support', () => {
    // (1, a): 0.6 with label 0 was tag a's only FP; (2, a): 0.4 with label 1 its only FN
    const known = [1, 1, 0, 1, 0, 1, 1, 1];
    const m = computeMetrics(probs, labels, ['a', 'b'], 0.5, known);
    expect(m.perTag[0]).toMatchObject({ support: 2, precision: 1, recall: 1, f1: 1, ap: 1 });
    expect(m.perTag[1]).toMatchObject({ support: 2, precision: 1, recall: 1, f1: 1 });
    expect([m.microPrecision, m.microRecall, m.microF1, m.macroF1, m.samples]).toEqual([1, 1, 1, 1, 4]);
    // only (1, a) unknown: tag a has TP 2, FP 0, FN 1 → P 1, R 2/3, F1 0.8; micro over both tags TP 4, FP 0, FN 1
    const one = computeMetrics(probs, labels, ['a', 'b'], 0.5, [1, 1, 0, 1, 1, 1, 1, 1]);
    expect(one.perTag[0]).toMatchObject({ support: 3, precision: 1, recall: 2 / 3 });
    expect(one.perTag[0]!.f1).toBeCloseTo(0.8, 12);
    expect(one.microF1).toBeCloseTo(8 / 9, 12);
  });

  test('a tag whose positives are all unknown has no support and leaves the macro averages', () => {
    // tag b: its positives (1, b), (3, b) unknown; its negatives known
    const m = computeMetrics(probs, labels, ['a', 'b'], 0.5, [1, 1, 1, 0, 1, 1, 1, 0]);
    expect(m.perTag[1]).toMatchObject({ support: 0 });
    expect(m.perTag[1]!.ap).toBeNaN();
    expect(m.macroF1).toBeCloseTo(2 / 3, 12); // tag a alone
    expect(m.mAP).toBeCloseTo(m.perTag[0]!.ap, 12);
  });

  test('average precision leaves unknown samples out of the ranking', () => {
    // without the mask the negative at 0.8 sits between the positives: (1 + 2/3) / 2
    expect(averagePrecision([0.9, 0.8, 0.1], [1, 0, 1], [1, 0, 1])).toBe(1);
    // an unknown high score above every positive: ranks 2 and 3 become 1 and 2
    expect(averagePrecision([0.95, 0.9, 0.3, 0.8], [0, 1, 1, 0], [0, 1, 1, 1])).toBeCloseTo((1 + 2 / 3) / 2, 12);
    expect(averagePrecision([0.9, 0.1], [1, 0], [0, 1])).toBeNaN();
  });

  test('fitted thresholds ignore unknown scores', () => {
    // one tag: 0.9 pos, 0.8 and 0.7 unknown negatives, 0.6 pos, 0.1 neg
    const s = [0.9, 0.8, 0.7, 0.6, 0.1], y = [1, 0, 0, 1, 0];
    // counted, the cut after 0.9 (F1 2/3) ties the cut after 0.6 (TP 2, FP 2: 2/3) and the higher wins: (0.9 + 0.8) / 2
    expect(fitThresholds(s, y, 1)[0]).toBeCloseTo(0.85, 6);
    // unknown, the cut after 0.6 is perfect: (0.6 + 0.1) / 2
    expect(fitThresholds(s, y, 1, 0.5, [1, 0, 0, 1, 1])[0]).toBeCloseTo(0.35, 6);
    // every positive unknown: the fallback stays
    expect(fitThresholds(s, y, 1, 0.42, [0, 1, 1, 0, 1])[0]).toBeCloseTo(0.42, 6);
    // one fallback per tag: only the tag without positives takes its own
    const two = fitThresholds([0.9, 0.8, 0.2, 0.3], [1, 0, 0, 0], 2, [0.11, 0.22]);
    expect([two[0], two[1]]).toEqual([Math.fround(0.55), Math.fround(0.22)]);
  });
});
