import { describe, expect, test } from 'vitest';
import {
  captionTags, compileCaptionText, formatTag, mergeCaption, parseCaptionExtension, parseCaptionOptions, type CaptionOptions, type RawCaptionOptions,
} from '../../src/infer/caption.ts';
import type { ScoredTag } from '../../src/infer/selection.ts';
import { parseEscapedList, parseReplacements } from '../../src/option-values.ts';

const tag = (name: string, category: string, score: number): ScoredTag => ({ name, category, score });

/** A selection as the library gives it: highest score first, across categories; the rating apart. */
const SELECTED = {
  tags: [
    tag('1girl', 'general', 0.99),
    tag('hatsune_miku', 'character', 0.97),
    tag('solo', 'general', 0.95),
    tag('long_hair', 'general', 0.9),
    tag('kagamine_rin', 'character', 0.88),
    tag('star_(sky)', 'general', 0.6),
    tag('vocaloid', 'copyright', 0.55),
    tag('^_^', 'general', 0.5),
  ],
  rating: tag('sensitive', 'rating', 0.81),
};

describe('captions', () => {
  test('underscores become spaces except in kaomoji; parentheses escaped; weights', () => {
    expect(formatTag('long_hair', { replaceUnderscores: true })).toBe('long hair');
    expect(formatTag('^_^', { replaceUnderscores: true })).toBe('^_^');
    expect(formatTag('>_<', { replaceUnderscores: true })).toBe('>_<');
    expect(formatTag('hatsune_miku_(cosplay)', { replaceUnderscores: true, escapeParens: true })).toBe('hatsune miku \\(cosplay\\)');
    expect(formatTag('smile', { weights: true }, 0.8712)).toBe('(smile:0.87)');
    expect(captionTags([{ name: 'a_b', category: 'general', score: 0.5 }], {})).toEqual(['a_b']);
  });

  test('existing caption policies, deduplicated across `_` and space forms', () => {
    expect(mergeCaption(null, ['a', 'b'], 'ignore')).toBe('a, b');
    expect(mergeCaption('x, y', ['a'], 'ignore')).toBeNull();
    expect(mergeCaption('x, y', ['a'], 'overwrite')).toBe('a');
    expect(mergeCaption('x, long hair', ['long_hair', 'a'], 'append')).toBe('x, long hair, a');
    expect(mergeCaption('x, long hair', ['long_hair', 'a'], 'prepend')).toBe('long_hair, a, x');
    expect(mergeCaption('(smile:0.90)', ['smile'], 'append')).toBe('(smile:0.90)');
  });

  test('an existing caption is read with the separator it is written with', () => {
    expect(mergeCaption('masterpiece | long hair\n', ['long_hair', 'solo'], 'append', ' | ')).toBe('masterpiece | long hair | solo');
    expect(mergeCaption('masterpiece,best_quality', ['solo'], 'prepend', ',')).toBe('solo,masterpiece,best_quality');
    // a separator of spaces alone: tags with underscores, split at any run of spaces
    expect(mergeCaption('masterpiece  best_quality\n', ['solo', 'best_quality'], 'append', ' ')).toBe('masterpiece best_quality solo');
    expect(mergeCaption('star \\(sky\\), x', ['star_(sky)'], 'append')).toBe('star \\(sky\\), x');
  });

  // Expected strings written by hand from SELECTED, in kohya's terms where kohya has the option
  const cases: [string, CaptionOptions, string][] = [
    ['defaults: score order, ", "', {}, '1girl, hatsune_miku, solo, long_hair, kagamine_rin, star_(sky), vocaloid, ^_^'],
    ['--caption-separator ","', { separator: ',' }, '1girl,hatsune_miku,solo,long_hair,kagamine_rin,star_(sky),vocaloid,^_^'],
    ['--caption-separator " "', { separator: ' ' }, '1girl hatsune_miku solo long_hair kagamine_rin star_(sky) vocaloid ^_^'],
    ['--character-first (kohya: --character_tags_first)', { characterFirst: true }, 'hatsune_miku, kagamine_rin, 1girl, solo, long_hair, star_(sky), vocaloid, ^_^'],
    ['--with-rating (kohya: --use_rating_tags)', { withRating: true }, 'sensitive, 1girl, hatsune_miku, solo, long_hair, kagamine_rin, star_(sky), vocaloid, ^_^'],
    ['--with-rating --character-first: the rating before the characters', { withRating: true, characterFirst: true },
      'sensitive, hatsune_miku, kagamine_rin, 1girl, solo, long_hair, star_(sky), vocaloid, ^_^'],
    ['--always-first: present ones moved, in the order given; absent ones not added', { alwaysFirst: ['solo', 'absent', '1girl'] },
      'solo, 1girl, hatsune_miku, long_hair, kagamine_rin, star_(sky), vocaloid, ^_^'],
    ['--always-first matches either spelling', { alwaysFirst: ['long hair', 'Star_(Sky)'] },
      'long_hair, star_(sky), 1girl, hatsune_miku, solo, kagamine_rin, vocaloid, ^_^'],
    ['--always-first before the rating, as kohya puts it', { withRating: true, alwaysFirst: ['1girl'] },
      '1girl, sensitive, hatsune_miku, solo, long_hair, kagamine_rin, star_(sky), vocaloid, ^_^'],
    ['--replace renames in place; to "" drops', { replace: [['1girl', '1woman'], ['star_(sky)', 'star'], ['vocaloid', '']] },
      '1woman, hatsune_miku, solo, long_hair, kagamine_rin, star, ^_^'],
    ['--replace matches either spelling; an unknown from is no error', { replace: [['long hair', 'very_long_hair'], ['not_a_tag', 'x']] },
      '1girl, hatsune_miku, solo, very_long_hair, kagamine_rin, star_(sky), vocaloid, ^_^'],
    ['--replace comes before deduplication: two tags made one', { replace: [['solo', '1girl']] },
      '1girl, hatsune_miku, long_hair, kagamine_rin, star_(sky), vocaloid, ^_^'],
    ['--replace is one pass: no chains', { replace: [['1girl', 'solo'], ['solo', 'alone']] },
      'solo, hatsune_miku, alone, long_hair, kagamine_rin, star_(sky), vocaloid, ^_^'],
    ['--always-first sees the renamed tag', { replace: [['hatsune_miku', 'miku']], alwaysFirst: ['miku'] },
      'miku, 1girl, solo, long_hair, kagamine_rin, star_(sky), vocaloid, ^_^'],
    ['--replace target is written as a tag: underscores and escapes apply', { replace: [['solo', 'solo_focus_(x)']], replaceUnderscores: true, escapeParens: true },
      '1girl, hatsune miku, solo focus \\(x\\), long hair, kagamine rin, star \\(sky\\), vocaloid, ^_^'],
    ['--max-tags 2: the two best general tags; characters and the copyright stay', { maxTags: 2 }, '1girl, hatsune_miku, solo, kagamine_rin, vocaloid'],
    ['--max-tags 0: no general tag', { maxTags: 0, withRating: true }, 'sensitive, hatsune_miku, kagamine_rin, vocaloid'],
    ['--max-tags above the count: all', { maxTags: 50 }, '1girl, hatsune_miku, solo, long_hair, kagamine_rin, star_(sky), vocaloid, ^_^'],
    ['the WD demo: spaces, parentheses escaped, kaomoji kept', { replaceUnderscores: true, escapeParens: true },
      '1girl, hatsune miku, solo, long hair, kagamine rin, star \\(sky\\), vocaloid, ^_^'],
    ['--weights with --max-tags 1', { weights: true, maxTags: 1 }, '(1girl:0.99), (hatsune_miku:0.97), (kagamine_rin:0.88), (vocaloid:0.55)'],
    ['a kohya LoRA set: rating, characters, a trigger tag first, spaces, " | "',
      { withRating: true, characterFirst: true, alwaysFirst: ['1girl'], replace: [['hatsune_miku', 'mikuchan']], replaceUnderscores: true, maxTags: 3, separator: ' | ' },
      '1girl | sensitive | mikuchan | kagamine rin | solo | long hair | vocaloid'],
  ];

  test.each(cases)('%s', (_, options, want) => {
    expect(compileCaptionText(options)(SELECTED)).toBe(want);
  });

  test('an image with no tags and no rating gives an empty caption', () => {
    expect(compileCaptionText({ withRating: true, alwaysFirst: ['1girl'] })({ tags: [], rating: null })).toBe('');
  });
});

describe('caption options as typed', () => {
  test('replacement pairs: comma lists, repeated, with \\, \\= and \\\\ escapes; other backslashes kept', () => {
    expect(parseReplacements('--replace', ['1girls=1girl, chibi=', 'a\\,b = c'])).toEqual([['1girls', '1girl'], ['chibi', ''], ['a,b', 'c']]);
    expect(parseReplacements('--replace', ['\\=_\\==smug', 'x=back\\\\slash', 'star_\\(sky\\)=star'])).toEqual([['=_=', 'smug'], ['x', 'back\\slash'], ['star_\\(sky\\)', 'star']]);
    expect(parseReplacements('--replace', ['a=b,', ' , '])).toEqual([['a', 'b']]);
    expect(parseEscapedList(['1girl, solo', 'a\\,b,,'])).toEqual(['1girl', 'solo', 'a,b']);
  });

  test('the same raw values give the same options for the CLI and the server, named as each names them', () => {
    const raw: RawCaptionOptions = {
      'caption-separator': ' | ', 'character-first': true, 'always-first': ['1girl, solo'], replace: ['a=b', 'c='], 'max-tags': '5',
      'replace-underscores': true, 'escape-parens': false, weights: true, 'with-rating': true,
    };
    const want: CaptionOptions = {
      separator: ' | ', characterFirst: true, alwaysFirst: ['1girl', 'solo'], replace: [['a', 'b'], ['c', '']], maxTags: 5,
      replaceUnderscores: true, escapeParens: false, weights: true, withRating: true,
    };
    expect(parseCaptionOptions(raw, '--')).toEqual(want);
    expect(parseCaptionOptions(raw)).toEqual(want);
    expect(parseCaptionOptions({})).toEqual({});
    // a replacement of star_(sky) written with escaped parentheses still finds the tag
    expect(compileCaptionText(parseCaptionOptions({ replace: ['star_\\(sky\\)=star'] }))(SELECTED)).toContain(', star, ');
  });

  test.each([
    [{ 'caption-separator': '' }, 'Expected one or more characters such as ", " for --caption-separator but received ""'],
    [{ 'max-tags': '2.5' }, 'Expected an integer between 0 and 1000000 for --max-tags but received "2.5"'],
    [{ 'max-tags': '-1' }, 'Expected an integer between 0 and 1000000 for --max-tags but received "-1"'],
    [{ 'max-tags': 'all' }, 'for --max-tags but received "all"'],
    [{ replace: ['long_hair'] }, 'Expected from=to (\\, and \\= for a literal comma or equals sign) for --replace but received "long_hair"'],
    [{ replace: ['a=b=c'] }, 'for --replace but received "a=b=c"'],
    [{ replace: ['=b'] }, 'for --replace but received "=b"'],
    [{ replace: ['long_hair=a, long hair=b'] }, 'Expected each tag replaced once for --replace but received "long hair": "long_hair" is replaced already'],
  ] as [RawCaptionOptions, string][])('%j is refused, naming the option', (raw, message) => {
    expect(() => parseCaptionOptions(raw, '--')).toThrow(message);
    try {
      parseCaptionOptions(raw, '--');
    } catch (e) {
      expect((e as { code: string }).code).toBe('E_USAGE');
    }
  });

  test('caption extensions: a leading dot, no path', () => {
    for (const ok of ['.txt', '.caption', '.tags.txt', '.wd-14']) expect(parseCaptionExtension('--caption-extension', ok)).toBe(ok);
    expect(() => parseCaptionExtension('--caption-extension', 'txt')).toThrow(
      'Expected an extension such as .txt or .caption (a leading dot, no path separator) for --caption-extension but received "txt": did you mean ".txt"?');
    for (const bad of ['', '.', '..', './x', '.a/b', '.a\\b', '../x', '.tx t', `.${'x'.repeat(40)}`]) {
      expect(() => parseCaptionExtension('caption-extension', bad), bad).toThrow(/for caption-extension but received/);
    }
  });
});
