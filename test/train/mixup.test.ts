/** Mixup's blends (src/train/mixup.ts): the pixels, the label rule, the draws, and what is left alone. */
import { expect, test } from 'vitest';
import { Rng } from '../../src/models/random.ts';
import { mixBatch, type MixableBatch } from '../../src/train/mixup.ts';

/** Four samples of 3 pixels, each a constant (10, 20, 30, 40), and 4 tags. */
function batch(): MixableBatch {
  return {
    x: Float32Array.from({ length: 12 }, (_, i) => 10 * (Math.floor(i / 3) + 1)),
    // tags: both positive for 0 and 1 | 0 positive, 1 negative | both negative | 1 unknown
    labels: Float32Array.of(1, 1, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1),
    mask: Float32Array.of(1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1),
    batchSize: 4, sampleSize: 3, tags: 4,
  };
}

test('every sample blended at share 1: λ·own + (1 − λ)·partner\'s original pixels, partners never the sample itself', () => {
  const b = batch(), original = b.x.slice();
  const plan = mixBatch(b, 1, new Rng(5));
  expect(plan.map((p) => p.sample)).toEqual([0, 1, 2, 3]);
  for (const { sample: i, partner: j, lambda } of plan) {
    expect(j).not.toBe(i);
    expect(lambda).toBeGreaterThanOrEqual(0);
    expect(lambda).toBeLessThan(1);
    // the partner's pixels as assembled, even when the partner was blended before this sample
    for (let p = 0; p < 3; p++) expect(b.x[3 * i + p]).toBeCloseTo(lambda * original[3 * i]! + (1 - lambda) * original[3 * j]!, 4);
  }
});

test('a blend keeps the labels both images are known to share and makes the rest unknown', () => {
  const b = batch();
  // a stub rng: every sample blended with λ = 0, sample 0 with sample 1
  const plan = mixBatch(b, 1, { next: () => 0, int: () => 0 } as unknown as Rng).filter((p) => p.sample === 0);
  expect(plan[0]).toMatchObject({ sample: 0, partner: 1 });
  // tag 0 both positive: positive; tag 1 positive and negative: unknown; tag 2 both negative: negative; tag 3 unknown in 1: unknown
  expect([...b.labels.subarray(0, 4)]).toEqual([1, 0, 0, 0]);
  expect([...b.mask.subarray(0, 4)]).toEqual([1, 0, 1, 0]);
});

test('the same rng state gives the same blends; share 0 and a batch of one change nothing', () => {
  const [a, b] = [batch(), batch()];
  expect(mixBatch(a, 0.5, Rng.derived(3, 1, 64))).toEqual(mixBatch(b, 0.5, Rng.derived(3, 1, 64)));
  expect(a.x).toEqual(b.x);
  expect(a.mask).toEqual(b.mask);
  const untouched = batch();
  expect(mixBatch(untouched, 0, new Rng(1))).toEqual([]);
  expect(untouched).toEqual(batch());
  const one = { x: Float32Array.of(1, 2, 3), labels: Float32Array.of(1), mask: Float32Array.of(1), batchSize: 1, sampleSize: 3, tags: 1 };
  expect(mixBatch(one, 1, new Rng(1))).toEqual([]);
  expect([...one.x]).toEqual([1, 2, 3]);
});

test('about `share` of the samples are blended', () => {
  const n = 2000, b = { x: new Float32Array(n), labels: new Float32Array(n), mask: new Float32Array(n).fill(1), batchSize: n, sampleSize: 1, tags: 1 };
  const blended = mixBatch(b, 0.3, new Rng(9)).length / n;
  expect(blended).toBeGreaterThan(0.26);
  expect(blended).toBeLessThan(0.34);
});
