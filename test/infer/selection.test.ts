import { describe, expect, test } from 'vitest';
import type { TagInfo } from '../../src/infer/bundle.ts';
import { RE2JS } from 're2js';
import { compilePatterns, PATTERN_LIMITS, programBound } from '../../src/infer/pattern.ts';
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

describe('user patterns run on RE2, bounded', () => {
  // JavaScript's backtracking takes about 2^28 steps to fail /^(a+)+$/ on this name; RE2 is linear in it
  const LONG = { name: `${'a'.repeat(28)}!`, category: 'general' };
  const tags = [...TAGS, LONG];

  test('a catastrophic pattern over a long tag name finishes at once', () => {
    const started = performance.now();
    const sel = compileSelection(tags, { default: 0 }, { exclude: ['/^(a+)+$/', '/(a|aa)+$/', '/(.*){10}x/'] });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(sel.select(tags.map(() => 1)).tags.map((t) => t.name)).toContain(LONG.name);
    expect(compileMatcher(['/^(a+)+!$/'])(LONG.name)).toBe(true);
  });

  test.each([
    ['/(a)\\1/', 'backreferences are not supported'],
    ['/(?<n>a)\\k<n>/', 'backreferences are not supported'],
    ['/long(?=_hair)/', 'lookahead and lookbehind are not supported'],
    ['/(?<!short_)hair/', 'lookahead and lookbehind are not supported'],
    ['/[unclosed/', 'missing closing ]: `[unclosed`'],
    ['/hair/g', 'flag g is not supported (i, m, s, u are)'],
    ['/hair/ii', 'flag i is given twice'],
  ])('%s is refused: %s', (pattern, why) => {
    expect(() => compileMatcher([pattern], '--exclude')).toThrow(`Expected a regular expression RE2 can run for --exclude but received "${pattern}": ${why}`);
  });

  test('flags: i folds case, m s and u are accepted, none is case-sensitive', () => {
    expect(compileMatcher(['/^LONG/'])('long_hair')).toBe(false);
    expect(compileMatcher(['/^LONG/i'])('long_hair')).toBe(true);
    for (const flags of ['m', 's', 'u', 'imsu']) expect(compileMatcher([`/^long hair$/${flags}`])('long_hair')).toBe(true);
  });

  test('README forms: names, a glob, a regular expression', () => {
    const readme: TagInfo[] = [{ name: 'simple_background', category: 'general' }, { name: 'rating:safe', category: 'general' }, { name: 'long_hair', category: 'general' }, { name: 'hat', category: 'general' }];
    const kept = (opts: Parameters<typeof compileSelection>[2]) => compileSelection(readme, { default: 0 }, opts).select([0.9, 0.8, 0.7, 0.6]).tags.map((t) => t.name);
    expect(kept({ exclude: ['simple background', '/^rating:/'] })).toEqual(['long_hair', 'hat']);
    expect(kept({ include: ['*_hair', '*_BACKGROUND'] })).toEqual(['simple_background', 'long_hair']);
    expect(kept({ include: ['/^long/i', 'h?t'] })).toEqual(['long_hair']); // a glob has only *
    expect(kept({ include: ['rating:*'] })).toEqual(['rating:safe']);
  });

  test('limits: count, length and compiled size, each named', () => {
    expect(() => compilePatterns(Array.from({ length: PATTERN_LIMITS.count + 1 }, (_, i) => `tag_${i}`), 'include'))
      .toThrow(`Expected at most ${PATTERN_LIMITS.count} patterns for include but received an array of length ${PATTERN_LIMITS.count + 1}`);
    expect(() => compileMatcher(['x'.repeat(PATTERN_LIMITS.length + 1)])).toThrow(/at most 1000 characters for exclude but received "x{40}…": 1001 characters$/);
    // 8 characters that RE2 would expand to 2000 instructions, refused before RE2 compiles them
    const started = performance.now();
    expect(() => compileMatcher(['/a{1000}/', '/b{0,999}/'])).toThrow(/at most 2000 RE2 instructions for exclude but received "\/b\{0,999\}\/"/);
    expect(() => compileMatcher(Array.from({ length: 200 }, (_, i) => `/^(long|short)_hair_${i}$/i`))).toThrow(/RE2 instructions/);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test('the size bound holds over what re2js compiles', () => {
    const sizes = (p: string) => (RE2JS.compile(p).re2() as unknown as { prog: { numInst(): number } }).prog.numInst();
    for (const p of ['a{1000}', '(ab){10}c{3,7}', '[{]{100}', '[]a]{50}', '[[:alpha:]]{99}', '\\Q{}\\E{60}', '\\p{Greek}{40}', '(?i)(long|short)+_hair*', '((a{10}){10}){10}', 'x{5,}', '\\x{41}{30}']) {
      expect(programBound(p), p).toBeGreaterThanOrEqual(sizes(p));
    }
  });

  test('a list too costly for a large model stops at the matching deadline with a named error', () => {
    const words = ['long', 'hair', 'blue', 'eyes', 'simple', 'background', 'a', 'aa', 'ab', 'ba', 'sky', 'q'];
    const many = Array.from({ length: 30_000 }, (_, i) => Array.from({ length: 2 + (i % 4) }, (_, j) => words[(i * 7 + j * 5 + (i >> j)) % words.length]).join('_'));
    // each small and together within the size limit, with DFA states that explode: RE2 falls back to its NFA
    const costly = compilePatterns(Array.from({ length: 60 }, (_, i) => `/.*${'aeiouylhbsk'[i % 11]}.{${(i * 3) % 25}}${'aeiouylhbsk'[(i * 5) % 11]}/`), '--exclude');
    const started = performance.now();
    expect(() => costly.mask(many, 20)).toThrow(/^Expected patterns that match 30000 tags within 20 ms for --exclude but received "\/\.\*a\.\{0\}a\/", /);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(costly.mask(many.slice(0, 100)).length).toBe(100);
  });
});

describe('per-tag thresholds name unknown tags', () => {
  test.each([
    ['lon_hair', 'did you mean long_hair?'],
    ['long hair', null],
    ['hats', 'did you mean hat, hatsune_miku?'],
    ['hatsune', 'did you mean hatsune_miku?'],
    ['zzzzzz', 'no tag of the model is close to it (its tagger.json lists all 10)'],
  ])('%s', (tag, why) => {
    const run = () => compileSelection(TAGS, { default: 0.5 }, { tagThresholds: { [tag]: 0.5 } });
    if (why === null) expect(run).not.toThrow();
    else expect(run).toThrow(`Expected a tag of the model for tagThresholds but received "${tag}": ${why}`);
  });
});
