import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { countTags, deriveTagLists, naturalCompare, writeTagFiles } from '../../src/data/index.ts';
import { readTagsFile } from '../../src/infer/tags-file.ts';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-tags-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('naturalCompare', () => {
  test('orders as DeepDanbooru\'s natural_sorted (digit runs as numbers, letters case-folded)', () => {
    // Python: sorted(l, key=lambda k: [int(c) if c.isdigit() else c.lower() for c in re.split('([0-9]+)', k)])
    const input = ['10others', '2others', 'Zebra', 'apple', '1girl', '100', '9', 'a10b', 'a9b', 'a9', 'solo'];
    expect([...input].sort(naturalCompare)).toEqual(['1girl', '2others', '9', '10others', '100', 'a9', 'a9b', 'a10b', 'apple', 'solo', 'Zebra']);
  });
});

describe('deriveTagLists', () => {
  const records = [{ tags: ['solo', 'smile', 'rating:general'] }, { tags: ['solo', 'hat', 'rating:explicit'] }, { tags: ['2others', 'smile', 'smile', 'rating:general'] }];

  test('counts each tag once per record', () => {
    expect(Object.fromEntries(countTags(records))).toEqual({ solo: 2, smile: 2, 'rating:general': 2, hat: 1, 'rating:explicit': 1, '2others': 1 });
  });

  test('keeps tags at or above the minimum, rating tags last', () => {
    expect(deriveTagLists(countTags(records), 1)).toEqual({ general: ['2others', 'hat', 'smile', 'solo'], character: [], system: ['rating:explicit', 'rating:general'] });
    expect(deriveTagLists(countTags(records), 2)).toEqual({ general: ['smile', 'solo'], character: [], system: ['rating:general'] });
    expect(deriveTagLists(countTags(records), 3).general).toEqual([]);
    expect(() => deriveTagLists(countTags(records), 0)).toThrow('Expected integer between 1 and 9007199254740991 for minimumCount but received 0 of type number');
  });
});

describe('writeTagFiles', () => {
  test('tags.txt one per line and categories.json with DeepDanbooru\'s start indices', async () => {
    const out = path.join(dir, 'project');
    await writeTagFiles(out, { general: ['a', 'b', 'c'], character: ['hatsune_miku'], system: ['rating:general'] });
    expect(await fs.readFile(path.join(out, 'tags.txt'), 'utf8')).toBe('a\nb\nc\nhatsune_miku\nrating:general\n');
    expect(JSON.parse(await fs.readFile(path.join(out, 'categories.json'), 'utf8'))).toEqual([
      { name: 'General', start_index: 0 }, { name: 'Character', start_index: 3 }, { name: 'System', start_index: 4 },
    ]);
    // the inference side reads it back
    expect((await readTagsFile(path.join(out, 'tags.txt'))).map((t) => t.name)).toEqual(['a', 'b', 'c', 'hatsune_miku', 'rating:general']);
  });

  test('refuses tags a line-per-tag file cannot hold', async () => {
    await expect(writeTagFiles(dir, { general: ['long hair'] })).rejects.toThrow('Expected tags without whitespace for tags.txt but received "long hair"');
    await expect(writeTagFiles(dir, { general: ['a', 'b'], system: ['a'] })).rejects.toThrow('tag "a" appears twice');
  });
});
