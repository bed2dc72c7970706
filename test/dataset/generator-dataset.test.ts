/** `make-dataset synthetic` with generator settings: recorded choices, unknown tags, tags.txt and LICENSES. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TrainingDatabase } from '../../src/data/index.ts';
import { openSqlite } from '../../src/data/sqlite.ts';
import { makeSyntheticDataset } from '../../src/dataset/synthetic/dataset.ts';
import { ALL_TAG_NAMES, TAG_NAMES } from '../../src/dataset/synthetic/tags.ts';
import { cli } from '../helpers/cli.ts';

const SIZE = 64;
let dir: string;

function dump(database: string) {
  const db = TrainingDatabase.open(database, { readonly: true });
  try {
    return [...db.records()].map((r) => ({ post: db.post(r.id), masks: db.masks(r.id).map((m) => m.tag), ...db.choices(r.id) }));
  } finally {
    db.close();
  }
}

const lines = async (file: string) => (await fs.readFile(file, 'utf8')).split('\n').filter(Boolean);

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-generator-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('make-dataset synthetic with generator settings', () => {
  test('every image records its choices and unknown tags; no tag is both known and unknown; the same seed repeats, on a worker too', async () => {
    const a = await makeSyntheticDataset(path.join(dir, 'wide'), { count: 6, seed: 4, size: SIZE, preset: 'wide', settings: { rendering: { colour: 1, greyscale: 1 } } });
    const rows = dump(a.database);
    expect(rows).toHaveLength(6);
    for (const r of rows) {
      const tags = r.post!.tag_string.split(' ');
      const choices = r.choices as { preset: string; rendering: string };
      expect([choices.preset, ['colour', 'greyscale'].includes(choices.rendering)]).toEqual(['wide', true]);
      expect(r.unknownTags!.filter((t) => tags.includes(t))).toEqual([]);
      expect(r.masks.sort()).toEqual([...tags].sort());
      if ((r.choices as { rendering: string }).rendering === 'greyscale') expect(tags).toEqual(expect.arrayContaining(['monochrome', 'greyscale']));
    }
    expect(rows.some((r) => (r.choices as { rendering: string }).rendering === 'greyscale')).toBe(true);
    const again = await makeSyntheticDataset(path.join(dir, 'wide-again'), { count: 3, seed: 4, size: SIZE, preset: 'wide', settings: { rendering: { colour: 1, greyscale: 1 } }, workers: 1 });
    expect(dump(again.database)).toEqual(rows.slice(0, 3));
  });

  test('Danbooru\'s 6+others has its mask file like every tag', async () => {
    const s = await makeSyntheticDataset(path.join(dir, 'crowd'), { count: 1, seed: 1, size: SIZE, settings: { layout: 'free', characters: [8, 8], faceSize: [0.2, 0.25] } });
    const [row] = dump(s.database);
    expect(row!.post!.tag_string.split(' ')).toContain('6+others');
    expect(row!.masks).toContain('6+others');
  });

  test('the choices are queryable in SQL, so a test set can be sliced', async () => {
    const s = await makeSyntheticDataset(path.join(dir, 'mono'), { count: 4, seed: 2, size: SIZE, preset: 'shifted-monochrome', masks: false });
    const db = openSqlite(s.database, { readonly: true });
    try {
      const rendering = db.prepare("SELECT json_extract(choices, '$.rendering') AS r, count(*) AS n FROM tagbooru_choices GROUP BY r").all() as { r: string; n: number }[];
      expect(rendering.reduce((a, x) => a + x.n, 0)).toBe(4);
      expect(rendering.every((x) => ['greyscale', 'monochrome', 'lineart'].includes(x.r))).toBe(true);
      const unknown = db.prepare("SELECT count(*) AS n FROM tagbooru_choices WHERE ' ' || unknown_tags || ' ' LIKE '% blue_hair %'").get() as { n: number };
      expect(unknown.n).toBe(4);
    } finally {
      db.close();
    }
  });

  test('tags.txt keeps the default list until a run draws wider tags; LICENSES credits every style drawn, from its metadata', async () => {
    const target = path.join(dir, 'mixed');
    await makeSyntheticDataset(target, { count: 2, seed: 1, size: SIZE, masks: false });
    expect(await lines(path.join(target, 'tags.txt'))).toEqual(TAG_NAMES);
    const before = await fs.readFile(path.join(target, 'LICENSES'), 'utf8');
    expect(before).toContain('lorelei: "Lorelei" by Lisa Wischofsky');
    expect(before).toContain('licence: CC0 1.0');
    expect(before).toContain('adventurer: "Adventurer" by Lisa Wischofsky');
    expect(before).not.toContain('micah');
    await makeSyntheticDataset(target, { count: 2, seed: 3, size: SIZE, preset: 'shifted-style', masks: false });
    expect(await lines(path.join(target, 'tags.txt'))).toEqual(ALL_TAG_NAMES);
    const after = await fs.readFile(path.join(target, 'LICENSES'), 'utf8');
    expect(after).toContain('micah: "Avatar Illustration System" by Micah Lanier');
    expect(after).toContain('licence: CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)');
    expect(after).toContain('lorelei');
  });
});

describe('tagbooru make-dataset generator flags', () => {
  test('a preset with overrides writes a dataset', async () => {
    const r = await cli(['make-dataset', 'synthetic', path.join(dir, 'cli'), '--count', '2', '--seed', '5', '--size', '64', '--no-masks', '--preset', 'shifted-tiny', '--styles', 'micah', '--corruptions', 'noise=1']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rows = dump(path.join(dir, 'cli', 'dataset.sqlite'));
    const choices = rows.map((x) => x.choices as { preset: string; style: string; corruptions: Record<string, number>; faceSize: { max: number } });
    expect(choices.map((c) => [c.preset, c.style, Object.keys(c.corruptions), c.faceSize.max <= 0.22])).toEqual([['shifted-tiny', 'micah', ['noise'], true], ['shifted-tiny', 'micah', ['noise'], true]]);
  });

  test.each([
    [['--preset', 'shifted-nothing'], 'Expected one of default, wide, wide-scaled, shifted-style'],
    [['--characters', '0-3'], 'Expected an integer between 1 and 8 for --characters but received "0"'],
    [['--characters', '4-2'], 'Expected a range from low to high for --characters but received "4-2"'],
    [['--face-size', '0.5-2'], 'Expected a number between 0.02 and 1 for --face-size but received "2"'],
    [['--face-size-spread', '0.5'], 'Expected a number between 1 and 50 for --face-size-spread but received "0.5"'],
    [['--styles', 'bottts'], 'Expected styles from lorelei, adventurer, micah for --styles but received "bottts"'],
    [['--rendering', 'sepia=1'], 'Expected names from colour, greyscale, monochrome, lineart for --rendering but received "sepia"'],
    [['--corruptions', 'jpeg=2'], 'for --corruptions jpeg but received "2"'],
    [['--colours', 'rainbow'], 'Expected one of palette, wide for --colours'],
    [['--rendering', 'colour=0'], 'Expected some rendering weight above 0'],
  ])('%j fails with a usage error', async (flags, message) => {
    const r = await cli(['make-dataset', 'synthetic', path.join(dir, 'bad'), '--count', '1', '--seed', '1', ...flags]);
    expect(r.stderr).toContain(message);
    expect(r.code).toBe(2);
  });
});
