import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TrainingDatabase, imagePath, imageRelativePath, maskRelativePath, md5Hex, type PostRow } from '../../src/data/index.ts';
import { TagbooruError } from '../../src/errors.ts';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-data-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const post = (id: number, ext: string, tags: string, general = tags.split(' ').filter((t) => t && !t.startsWith('rating:')).length): PostRow => ({
  id, md5: `${id.toString(16).padStart(2, '0')}${'0'.repeat(30)}`, file_ext: ext, tag_string: tags, tag_count_general: general,
});

describe('paths', () => {
  test('md5 is the real hash of the bytes', () => {
    expect(md5Hex(new Uint8Array(0))).toBe('d41d8cd98f00b204e9800998ecf8427e');
    expect(md5Hex(Buffer.from('The quick brown fox jumps over the lazy dog'))).toBe('9e107d9d372bb6826bd81d3542a419d6');
  });

  test('images/<md5[0:2]>/<md5>.<ext> next to the database, as DeepDanbooru builds it', () => {
    expect(imagePath('/d/x/train.sqlite', '9e107d9d372bb6826bd81d3542a419d6', 'jpg')).toBe('/d/x/images/9e/9e107d9d372bb6826bd81d3542a419d6.jpg');
    // DeepDanbooru's README: md5 need not be a real hash
    expect(imageRelativePath('abc', 'png')).toBe(path.join('images', 'ab', 'abc.png'));
    expect(maskRelativePath('9e107d9d372bb6826bd81d3542a419d6', 'long_hair')).toBe(path.join('masks', '9e', '9e107d9d372bb6826bd81d3542a419d6', 'long_hair.png'));
  });

  test('names that escape the folder are refused', () => {
    expect(() => imageRelativePath('../../etc/passwd', 'png')).toThrow(TagbooruError);
    expect(() => imageRelativePath('a', 'png')).toThrow(/at least 2 characters/);
    expect(() => maskRelativePath('9e107d9d372bb6826bd81d3542a419d6', '../x')).toThrow(/file-name-safe tag/);
  });
});

describe('TrainingDatabase', () => {
  test('creates DeepDanbooru\'s posts table exactly', async () => {
    const file = path.join(dir, 'schema', 'db.sqlite');
    const db = TrainingDatabase.open(file, { create: true });
    db.close();
    // read the schema with the driver directly: this is what DeepDanbooru's sqlite3 sees
    const Database = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');
    const raw = new Database(file, { readonly: true });
    const columns = raw.prepare('PRAGMA table_info(posts)').all() as { name: string; type: string; notnull: number; pk: number }[];
    raw.close();
    expect(columns.map((c) => [c.name, c.type, c.notnull, c.pk])).toEqual([
      ['id', 'INTEGER', 1, 1], ['md5', 'TEXT', 0, 0], ['file_ext', 'TEXT', 0, 0], ['tag_string', 'TEXT', 0, 0], ['tag_count_general', 'INTEGER', 0, 0],
    ]);
    await expect(fs.stat(file)).resolves.toBeTruthy();
  });

  test('records: png/jpg/jpeg only, tag_count_general >= minimum, in id order, with image paths', () => {
    const file = path.join(dir, 'records.sqlite');
    const db = TrainingDatabase.open(file, { create: true });
    db.insertPosts([post(5, 'png', 'a b c'), post(2, 'jpg', 'a rating:general'), post(9, 'gif', 'a b c d'), post(3, 'jpeg', 'x y'), post(7, 'webp', 'a b'), post(4, 'PNG', 'a b c')]);
    const all = [...db.records()];
    // NOTE: the comparison is case-sensitive, as in DeepDanbooru's SQL: "PNG" is skipped
    expect(all.map((r) => r.id)).toEqual([2, 3, 5]);
    expect(all[0]).toEqual({ id: 2, md5: post(2, 'jpg', '').md5, fileExt: 'jpg', tags: ['a', 'rating:general'], path: imagePath(file, post(2, 'jpg', '').md5, 'jpg') });
    expect([...db.records({ minimumTagCount: 2 })].map((r) => r.id)).toEqual([3, 5]);
    expect([...db.records({ minimumTagCount: 3 })].map((r) => r.id)).toEqual([5]);
    expect([...db.records({ minimumTagCount: 4 })]).toEqual([]);
    expect(() => [...db.records({ minimumTagCount: -1 })]).toThrow(/minimumTagCount/);
    expect(db.maxId()).toBe(9);
    expect(db.postCount()).toBe(6);
    expect(db.countIdsBetween(3, 6)).toBe(3);
    db.close();
  });

  test('an id that exists fails the whole batch', () => {
    const db = TrainingDatabase.open(path.join(dir, 'dupe.sqlite'), { create: true });
    db.insertPosts([post(1, 'png', 'a')]);
    expect(() => db.insertPosts([post(2, 'png', 'a'), post(1, 'png', 'b')])).toThrow(/UNIQUE|PRIMARY KEY/);
    expect(db.postCount()).toBe(1);
    expect(db.maxId()).toBe(1);
    db.close();
  });

  test('tagbooru tables: info, masks and recipes round-trip; absent in plain DeepDanbooru databases', () => {
    const file = path.join(dir, 'extra.sqlite');
    const db = TrainingDatabase.open(file, { create: true });
    expect(db.info('generator')).toBeUndefined();
    expect(db.masks(1)).toEqual([]);
    expect(db.recipe(1)).toBeUndefined();
    db.insertPosts([post(1, 'png', 'a b')]);
    db.setInfo('generator', { name: 'x', version: 1 });
    db.setInfo('generator', { name: 'x', version: 2 });
    db.insertMasks([{ postId: 1, tag: 'b', pixels: 10, box: [1, 2, 3, 4] }, { postId: 1, tag: 'a', pixels: 5, box: [0, 0, 5, 1] }]);
    db.insertRecipes([{ postId: 1, recipe: { seed: 3, characters: [] } }]);
    db.close();
    const again = TrainingDatabase.open(file, { readonly: true });
    expect(again.info('generator')).toEqual({ name: 'x', version: 2 });
    expect(again.masks(1)).toEqual([{ postId: 1, tag: 'a', pixels: 5, box: [0, 0, 5, 1] }, { postId: 1, tag: 'b', pixels: 10, box: [1, 2, 3, 4] }]);
    expect(again.recipe(1)).toEqual({ seed: 3, characters: [] });
    expect(again.post(1)).toEqual(post(1, 'png', 'a b'));
    again.close();
  });

  test('missing files and files without a posts table are refused, naming the file', async () => {
    expect(() => TrainingDatabase.open(path.join(dir, 'nope.sqlite'))).toThrow(/training database not found: .*nope\.sqlite/);
    const other = path.join(dir, 'other.sqlite');
    const Database = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');
    const raw = new Database(other);
    raw.exec('CREATE TABLE t (x)');
    raw.close();
    expect(() => TrainingDatabase.open(other)).toThrow(/has no posts table/);
    const text = path.join(dir, 'text.sqlite');
    await fs.writeFile(text, 'not a database at all, just some text that is long enough to look like a header');
    expect(() => TrainingDatabase.open(text)).toThrow(TagbooruError);
    expect(() => TrainingDatabase.open(text, { create: true, readonly: true })).toThrow(/both create and readonly/);
  });
});
