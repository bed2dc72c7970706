/** ECE, Brier and the reliability bins on hand-computed examples. */
import { describe, expect, test } from 'vitest';
import { decodeImage } from '../../src/image/decode.ts';
import { computeCalibrationMetrics } from '../../src/train/calibration-metrics.ts';
import { reliabilityPng } from '../../src/train/reliability-plot.ts';

describe('calibration metrics', () => {
  // 3 images × 2 tags, row-major
  const probs = [0.1, 0.95, 0.15, 0.5, 0.9, 0.52];
  const labels = [0, 1, 1, 0, 1, 1];

  test('ECE per tag, macro and micro, by hand', () => {
    const m = computeCalibrationMetrics(probs, labels, 2);
    // tag 0: 0.1 and 0.15 share bin 1 ([1/15, 2/15) = [0.067, 0.133)? no: 0.15 is in bin 2) → bins {1: 0.1→0}, {2: 0.15→1}, {13: 0.9→1}
    //   ECE₀ = (|0 − 0.1| + |1 − 0.15| + |1 − 0.9|) / 3 = (0.1 + 0.85 + 0.1) / 3 = 0.35
    // tag 1: 0.95 → bin 14 (label 1); 0.5 and 0.52 → bin 7 (labels 0, 1: frequency ½, mean 0.51)
    //   ECE₁ = (|1 − 0.95| + 2·|0.5 − 0.51|) / 3 = (0.05 + 0.02) / 3
    const e0 = 0.35, e1 = 0.07 / 3;
    expect(m.perTag[0]!.ece).toBeCloseTo(e0, 12);
    expect(m.perTag[1]!.ece).toBeCloseTo(e1, 12);
    expect(m.eceMacro).toBeCloseTo((e0 + e1) / 2, 12);
    // pooled: bins 1 {0.1→0}, 2 {0.15→1}, 7 {0.5→0, 0.52→1}, 13 {0.9→1}, 14 {0.95→1}
    expect(m.eceMicro).toBeCloseTo((0.1 + 0.85 + 0.02 + 0.1 + 0.05) / 6, 12);
  });

  test('Brier: mean squared error over pairs, and the mean of the per-tag means', () => {
    const m = computeCalibrationMetrics(probs, labels, 2);
    const b0 = (0.01 + 0.85 ** 2 + 0.01) / 3, b1 = (0.05 ** 2 + 0.25 + 0.48 ** 2) / 3;
    expect(m.perTag[0]!.brier).toBeCloseTo(b0, 12);
    expect(m.brierMacro).toBeCloseTo((b0 + b1) / 2, 12);
    expect(m.brierMicro).toBeCloseTo((b0 + b1) / 2, 12); // equal pairs per tag: micro = macro
  });

  test('a mask\'s 0 leaves the pair out of every figure', () => {
    const mask = new Float32Array([1, 1, 0, 1, 1, 1]); // image 2's tag 0 (0.15, labelled 1) is unknown
    const m = computeCalibrationMetrics(probs, labels, 2, mask);
    expect(m.pairs).toBe(5);
    expect(m.perTag[0]!.ece).toBeCloseTo((0.1 + 0.1) / 2, 12);
    expect(m.perTag[0]!.brier).toBeCloseTo(0.01, 12);
    expect(m.bins[2]!.count).toBe(0);
  });

  test('bins: 15 equal-width, the last closed at 1; counts, mean score and frequency', () => {
    const m = computeCalibrationMetrics([0, 1 / 15, 1, 0.99], [0, 1, 1, 0], 1);
    expect(m.bins).toHaveLength(15);
    expect(m.bins.map((b) => b.count)).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    expect(m.bins[14]).toMatchObject({ confidence: 0.995, frequency: 0.5 });
    expect(m.bins[3]!.confidence).toBeNaN();
  });

  test('the reliability diagram is a PNG: a bar reaches the observed frequency, a red mark the mean score', async () => {
    const m = computeCalibrationMetrics([0.7, 0.7, 0.7, 0.7], [1, 0, 0, 0], 1);
    const image = await decodeImage(await reliabilityPng(m.bins));
    expect([image.width, image.height]).toEqual([408, 514]);
    const px = (x: number, y: number) => [...image.data.subarray((y * image.width + x) * image.channels, (y * image.width + x) * image.channels + 3)];
    // bin 10 spans x 24 + 240 … 24 + 264 (24 px a bin, 2 px gaps); the plot's bottom is y 384: a bar to 0.25 (y 294), the mark at 0.7 (y 132)
    expect(px(270, 300)).toEqual([70, 120, 200]);
    expect(px(270, 288)).toEqual([255, 255, 255]);
    expect(px(270, 132)).toEqual([215, 50, 40]);
  });
});
