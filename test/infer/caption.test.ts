import { describe, expect, test } from 'vitest';
import { captionTags, formatTag, mergeCaption } from '../../src/infer/caption.ts';

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
});
