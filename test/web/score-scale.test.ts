/** Score labels and bars: saturated scores keep the digits that tell them apart; bars on the log-odds scale. */
import { describe, expect, test } from 'vitest';
import { BAR_MARKS, barFraction, scoreLabel } from '../../src/web/score-scale.ts';

describe('scoreLabel', () => {
  test.each([
    [0, '0.00'],
    [0.35, '0.35'],
    [0.98999, '0.99'],
    [0.99, '0.990'], // 0.99 * 1000 is 989.9999999999999: cut, it would read 0.989
    [0.9912, '0.9912'],
    [0.9984309077262878, '0.9984'],
    [0.9988324642181396, '0.9988'],
    [0.9996309280395508, '0.99963'],
    [0.9999380111694336, '0.999938'],
    [0.9999618530273438, '0.999961'],
    [0.9999998807907104, '0.999999'], // the largest float32 below 1 but one: cut at six decimals, never 1
    [Math.fround(1 - 2 ** -24), '0.999999'],
    [0.9999999999999, '0.999999'],
    [1, '1.00'],
  ])('%d reads %s', (score, label) => expect(scoreLabel(score)).toBe(label));

  test('never above the score', () => {
    for (let k = 2; k <= 7; k++) for (const d of [1, 3, 5, 9]) {
      const score = 1 - d * 10 ** -k;
      expect(Number(scoreLabel(score))).toBeLessThanOrEqual(score);
    }
  });
});

describe('barFraction', () => {
  test('linear to 0.99 over two thirds of the bar, then a sixth per two nines, full at 0.999999', () => {
    expect(barFraction(0)).toBe(0);
    expect(barFraction(0.495)).toBeCloseTo(1 / 3, 12);
    expect(barFraction(0.99)).toBeCloseTo(2 / 3, 12);
    expect(barFraction(0.9999)).toBeCloseTo(5 / 6, 9);
    expect(barFraction(0.999999)).toBeCloseTo(1, 9);
    expect(barFraction(1)).toBe(1);
    expect(BAR_MARKS).toEqual([0.5, 0.99, 0.9999]);
  });

  test('typical scores stay linear; scores a linear bar shows as full stay apart', () => {
    expect(barFraction(0.72) - barFraction(0.4)).toBeCloseTo((2 / 3) * (0.32 / 0.99), 12);
    const fractions = [0.98, 0.998, 0.9996, 0.99996, 0.9999996].map(barFraction);
    for (let i = 1; i < fractions.length; i++) expect(fractions[i]! - fractions[i - 1]!).toBeGreaterThan(0.04);
  });
});
