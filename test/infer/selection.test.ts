import { describe, expect, test } from 'vitest';
import type { TagInfo } from '../../src/infer/bundle.ts';
import { compileMatcher, compileSelection, mcutThreshold } from '../../src/infer/selection.ts';

const TAGS: TagInfo[] = [
  { name: 'long_hair', category: 'general' },
  { name: 'short_hair', category: 'general' },
  { name: 'blue_eyes', category: 'general' },
  { name: 'hat', category: 'general' },
  { name: 'hatsune_miku', category: 'character' },
  { name: 'kagamine_rin', category: 'character' },
  { name: 'general', category: 'rating' },
  { name: 'sensitive', category: 'rating' },
  { name: 'explicit', category: 'rating' },
  { name: '^_^', category: 'general' },
];
const SCORES = [0.95, 0.4, 0.3, 0.1, 0.9, 0.2, 0.7, 0.25, 0.05, 0.5];
const names = (opts: Parameters<typeof compileSelection>[2], scores = SCORES, defaults = { default: 0.35, categories: { character: 0.85 } }) =>
  compileSelection(TAGS, defaults, opts).select(scores).tags.map((t) => t.name);

describe('mcut', () => {
  test('threshold is the midpoint of the largest gap', () => {
    expect(mcutThreshold([0.9, 0.8, 0.2, 0.1])).toBeCloseTo(0.5);
    expect(mcutThreshold([0.1, 0.95, 0.9])).toBeCloseTo(0.5);
    expect(mcutThreshold([0.4])).toBe(0.4);
  });

  test('per category, with the character floor', () => {
    // general scores 0.95 .4 .3 .1 .5 → largest gap .95–.5 → threshold .725: only long_hair
    expect(names({ mcut: true })).toEqual(['long_hair', 'hatsune_miku']);
    // characters .9/.2 → MCut .55; a floor of .95 lifts it above both
    expect(names({ mcut: true, characterFloor: 0.95 })).toEqual(['long_hair']);
    // MCut on general only: characters keep their 0.85
    expect(names({ mcut: ['general'] })).toEqual(['long_hair', 'hatsune_miku']);
  });
});

describe('thresholds', () => {
  test('bundle defaults: 0.35 general, 0.85 character, sorted by score', () => {
    expect(names({})).toEqual(['long_hair', 'hatsune_miku', '^_^', 'short_hair']);
  });

  test('a global threshold overrides the bundle, a category threshold overrides the global', () => {
    expect(names({ threshold: 0.25 })).toEqual(['long_hair', 'hatsune_miku', '^_^', 'short_hair', 'blue_eyes']);
    expect(names({ threshold: 0.25, categoryThresholds: { character: 0.1 } })).toEqual(['long_hair', 'hatsune_miku', '^_^', 'short_hair', 'blue_eyes', 'kagamine_rin']);
  });

  test('per-tag thresholds win over everything', () => {
    expect(names({ threshold: 0.9, tagThresholds: { hat: 0.05 } })).toEqual(['long_hair', 'hatsune_miku', 'hat']);
    expect(names({}, SCORES, { default: 0.35, categories: { character: 0.85 }, tags: { short_hair: 0.45 } } as never)).toEqual(['long_hair', 'hatsune_miku', '^_^']);
  });

  test('top-k keeps the highest', () => {
    expect(names({ threshold: 0, topK: 3 })).toEqual(['long_hair', 'hatsune_miku', '^_^']);
  });

  test('rating is the argmax of the rating category and never a tag', () => {
    const sel = compileSelection(TAGS, { default: 0 }).select(SCORES);
    expect(sel.rating).toEqual({ name: 'general', category: 'rating', score: 0.7 });
    expect(sel.tags.map((t) => t.category)).not.toContain('rating');
  });

  test('invalid values name the option and the range', () => {
    expect(() => compileSelection(TAGS, { default: 0.5 }, { threshold: 2 })).toThrow(/Expected number between 0 and 1 for threshold but received 2/);
    expect(() => compileSelection(TAGS, { default: 0.5 }, { topK: 0 })).toThrow(/topK/);
  });
});

describe('include and exclude', () => {
  test.each([
    ['long_hair'], ['long hair'], ['LONG HAIR'], ['/^long/'], ['*_hair'], ['/LONG.HAIR/i'],
  ])('exclude %s matches long_hair', (pattern) => {
    expect(compileMatcher([pattern])('long_hair')).toBe(true);
  });

  test('exact forms do not match partially', () => {
    const m = compileMatcher(['hat']);
    expect(m('hat')).toBe(true);
    expect(m('hatsune_miku')).toBe(false);
  });

  test('in a selection', () => {
    expect(names({ threshold: 0.2, exclude: ['long hair', '/miku/'] })).toEqual(['^_^', 'short_hair', 'blue_eyes', 'kagamine_rin']);
    expect(names({ threshold: 0.2, include: ['*_hair'] })).toEqual(['long_hair', 'short_hair']);
  });
});
