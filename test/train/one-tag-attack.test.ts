/**
 * The `one-tag` adversarial goal's draw (oneTagAttackMask in src/train/engine.ts): one known label per attacked
 * sample, a positive to hide or a negative to add with even odds (or `hide_share`'s), never an unknown one, the
 * same for the same (seed, step) so a resumed run attacks the same tags.
 */
import { describe, expect, test } from 'vitest';
import { Rng } from '../../src/models/random.ts';
import { oneTagAttackMask } from '../../src/train/engine.ts';

const TAGS = 6;

function rows(n: number, seed: number): { labels: Float32Array; mask: Float32Array } {
  const rng = new Rng(seed);
  return {
    labels: Float32Array.from({ length: n * TAGS }, () => (rng.next() < 0.3 ? 1 : 0)),
    mask: Float32Array.from({ length: n * TAGS }, () => (rng.next() < 0.2 ? 0 : 1)),
  };
}

describe('the one-tag attack mask', () => {
  test('one known label per attacked row, half of them positives (hide), half negatives (add)', () => {
    const n = 2000, { labels, mask } = rows(n + 8, 1);
    const out = oneTagAttackMask(labels, mask, [n, TAGS], 7, 3);
    expect(out.length).toBe(n * TAGS);
    let hides = 0, both = 0;
    for (let i = 0; i < n; i++) {
      const row = [...out.subarray(i * TAGS, (i + 1) * TAGS)];
      const known = (want: number) => row.some((_, t) => mask[i * TAGS + t] === 1 && labels[i * TAGS + t] === want);
      if (!known(0) && !known(1)) {
        expect(row.every((v) => v === 0)).toBe(true);
        continue;
      }
      expect(row.filter((v) => v === 1).length).toBe(1);
      expect(row.filter((v) => v !== 0 && v !== 1)).toEqual([]);
      const t = row.indexOf(1);
      expect(mask[i * TAGS + t]).toBe(1);
      if (!known(1)) expect(labels[i * TAGS + t]).toBe(0);
      if (!known(0)) expect(labels[i * TAGS + t]).toBe(1);
      if (known(0) && known(1)) {
        both++;
        if (labels[i * TAGS + t] === 1) hides++;
      }
    }
    expect(both).toBeGreaterThan(1000);
    expect(hides / both).toBeGreaterThan(0.45);
    expect(hides / both).toBeLessThan(0.55);
  });

  test('hide_share sets the odds of hiding where a row has both kinds; even odds draw as before', () => {
    const n = 2000, { labels, mask } = rows(n, 3);
    const hideRate = (share: number | undefined) => {
      const out = oneTagAttackMask(labels, mask, [n, TAGS], 7, 3, share);
      let hides = 0, both = 0;
      for (let i = 0; i < n; i++) {
        const has = (want: number) => [...Array(TAGS).keys()].some((t) => mask[i * TAGS + t] === 1 && labels[i * TAGS + t] === want);
        if (!has(0) || !has(1)) continue;
        both++;
        if (labels[i * TAGS + out.subarray(i * TAGS, (i + 1) * TAGS).indexOf(1)] === 1) hides++;
      }
      return hides / both;
    };
    expect(hideRate(0.8)).toBeGreaterThan(0.76);
    expect(hideRate(0.8)).toBeLessThan(0.84);
    expect(hideRate(0)).toBe(0);
    expect(hideRate(1)).toBe(1);
    expect(oneTagAttackMask(labels, mask, [n, TAGS], 7, 3, 0.5)).toEqual(oneTagAttackMask(labels, mask, [n, TAGS], 7, 3));
  });

  test('a row with no known label is left out; the draw is a function of (seed, step)', () => {
    const { labels, mask } = rows(4, 2);
    mask.fill(0, 0, TAGS);
    const a = oneTagAttackMask(labels, mask, [4, TAGS], 5, 11);
    expect([...a.subarray(0, TAGS)]).toEqual(new Array(TAGS).fill(0));
    expect(oneTagAttackMask(labels, mask, [4, TAGS], 5, 11)).toEqual(a);
    const others = [oneTagAttackMask(labels, mask, [4, TAGS], 5, 12), oneTagAttackMask(labels, mask, [4, TAGS], 6, 11)];
    expect(others.some((o) => o.some((v, i) => v !== a[i]))).toBe(true);
  });
});
