/** One rounding for every score tagbooru writes: the CLI's JSON and CSV, the HTTP API, autotagger, tagger.json. */
import { describe, expect, test } from 'vitest';
import { roundScore, roundTo } from '../../src/infer/rounding.ts';

describe('roundScore', () => {
  test.each([
    [0.123456, 0.1235],
    [0.99995, 1],
    [0.00004, 0],
    [0.5, 0.5],
  ])('%f → %f', (x, want) => expect(roundScore(x)).toBe(want));

  test('roundTo keeps the places asked for (boxes: one decimal)', () => {
    expect([roundTo(12.345, 1), roundTo(12.35, 0)]).toEqual([12.3, 12]);
  });
});
