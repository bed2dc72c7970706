/** One reader of the selection options for CLI flags and HTTP fields: the same input, the same options, errors in each front end's names. */
import { describe, expect, test } from 'vitest';
import type { TagInfo } from '../../src/infer/bundle.ts';
import { readSelection } from '../../src/infer/selection-options.ts';
import { flagReader } from '../../src/cli/command.ts';
import { Fields } from '../../src/server/fields.ts';

const tags: TagInfo[] = [{ name: 'long_hair', category: 'general' }, { name: 'hat', category: 'general' }, { name: 'alice', category: 'character' }];

describe('readSelection', () => {
  test('flags and fields give the same options', () => {
    const flags = flagReader({ threshold: '0.4', 'character-threshold': '0.8', 'tag-threshold': ['hat=0.6'], mcut: true, 'top-k': '5', exclude: ['*_hair'] });
    const fields = new Fields(new Map([['threshold', ['0.4']], ['character-threshold', ['0.8']], ['tag-threshold', ['hat=0.6']], ['mcut', ['true']], ['top-k', ['5']], ['exclude', ['*_hair']]]));
    const want = { threshold: 0.4, categoryThresholds: { character: 0.8 }, tagThresholds: { hat: 0.6 }, mcut: true, characterFloor: undefined, topK: 5, exclude: ['*_hair'], include: undefined };
    expect(readSelection(flags, tags)).toEqual(want);
    expect(readSelection(fields, tags)).toEqual(want);
  });

  test('errors name the option as each front end spells it', () => {
    expect(() => readSelection(flagReader({ 'top-k': '0' }), tags)).toThrow('Expected an integer between 1 and 1000000 for --top-k but received "0"');
    expect(() => readSelection(new Fields(new Map([['top-k', ['0']]])), tags)).toThrow('Expected an integer between 1 and 1000000 for top-k but received "0"');
    expect(() => readSelection(flagReader({ 'tag-threshold': ['hta=0.5'] }), tags)).toThrow('Expected a tag of the model for --tag-threshold but received "hta"');
    expect(() => readSelection(new Fields(new Map([['include', ['/(/']]])), tags)).toThrow(/include/);
  });
});
