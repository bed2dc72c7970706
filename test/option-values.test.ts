import { describe, expect, test } from 'vitest';
import { parseNumber, parseTagValues } from '../src/option-values.ts';

describe('numbers as people type them', () => {
  test.each([['0.35', 0.35], ['.35', 0.35], ['1', 1], ['0', 0], ['1.', 1], ['1e-3', 0.001], ['2.5E-1', 0.25], ['-0', -0]])('%s reads as %d', (raw, want) => {
    expect(parseNumber('--threshold', raw, -1, 1)).toBe(want);
  });

  // Number() reads most of these as numbers (0x1 is 1, '' and ' ' are 0): they used to pass
  test.each(['0x1', '0b1', '0o1', '', ' ', ' 0.5 ', '0.5\n', 'Infinity', '-Infinity', 'NaN', '+0.5', '1_0', '1e400', '0.5.5', 'e1', '.'])('%j is refused', (raw) => {
    expect(() => parseNumber('--threshold', raw, -1e9, 1e9)).toThrow(`Expected a number between -1000000000 and 1000000000 for --threshold but received "${raw}"`);
  });

  test('ranges and integers', () => {
    expect(() => parseNumber('top-k', '2.5', 1, 10, true)).toThrow('Expected an integer between 1 and 10 for top-k but received "2.5"');
    expect(parseNumber('top-k', '1e1', 1, 10, true)).toBe(10);
    expect(() => parseNumber('threshold', '1.5', 0, 1)).toThrow('Expected a number between 0 and 1 for threshold but received "1.5"');
  });

  test('tag=value pairs: the name before the last =', () => {
    expect(parseTagValues('tag-threshold', ['hat=0.6', 'a=b=.5', 'long hair=1'], 0, 1)).toEqual({ hat: 0.6, 'a=b': 0.5, 'long hair': 1 });
    expect(() => parseTagValues('tag-threshold', ['hat'], 0, 1)).toThrow('Expected tag=value for tag-threshold but received "hat"');
    expect(() => parseTagValues('tag-threshold', ['hat=0x1'], 0, 1)).toThrow('Expected a number between 0 and 1 for tag-threshold hat but received "0x1"');
  });
});
