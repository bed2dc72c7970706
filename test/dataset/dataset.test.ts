import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TrainingDatabase, imagePath, maskPath, md5Hex, type ImageRecord, type PostRow } from '../../src/data/index.ts';
import { toPng } from '../../src/image/encode.ts';
import { makeSyntheticDataset, renderScene, TAG_NAMES, type SceneRecipe, type SyntheticDatasetSummary } from '../../src/dataset/synthetic/index.ts';
import { cli } from '../helpers/cli.ts';

const SIZE = 128, COUNT = 20, START = 1000;
let dir: string, summary: SyntheticDatasetSummary;

function posts(database: string): { records: ImageRecord[]; rows: PostRow[] } {
  const db = TrainingDatabase.open(database, { readonly: true });
  try {
    const records = [...db.records()];
    return { records, rows: records.map((r) => db.post(r.id)!) };
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-synthetic-'));
  summary = await makeSyntheticDataset(path.join(dir, 'a'), { count: COUNT, seed: 42, size: SIZE, startId: START });
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('make-dataset synthetic', () => {
  test('the same seed gives the same images and tags, whatever the concurrency or threads', async () => {
    await makeSyntheticDataset(path.join(dir, 'b'), { count: COUNT, seed: 42, size: SIZE, startId: START, concurrency: 1 });
    const [a, b] = [posts(path.join(dir, 'a', 'dataset.sqlite')), posts(path.join(dir, 'b', 'dataset.sqlite'))];
    expect(b.rows).toEqual(a.rows);
    expect(new Set(a.rows.map((r) => r.md5)).size).toBe(COUNT);
    const threaded = await makeSyntheticDataset(path.join(dir, 'w'), { count: 4, seed: 42, size: SIZE, startId: START, workers: 1 });
    expect(posts(threaded.database).rows).toEqual(a.rows.slice(0, 4));
    const other = await makeSyntheticDataset(path.join(dir, 'c'), { count: 3, seed: 43, size: SIZE });
    const c = posts(other.database);
    expect(c.rows.map((r) => r.id)).toEqual([1, 2, 3]);
    expect(c.rows.some((r) => a.rows.some((x) => x.md5 === r.md5))).toBe(false);
  });

  test('posts: ids from --start-id, real md5 paths, sorted tag strings from tags.txt, one count tag and one background', async () => {
    const { records, rows } = posts(summary.database);
    expect(records.map((r) => r.id)).toEqual(Array.from({ length: COUNT }, (_, i) => START + i));
    expect([summary.firstId, summary.lastId]).toEqual([START, START + COUNT - 1]);
    const tagsTxt = (await fs.readFile(path.join(dir, 'a', 'tags.txt'), 'utf8')).split('\n').filter(Boolean);
    expect(tagsTxt).toEqual(TAG_NAMES);
    expect(JSON.parse(await fs.readFile(path.join(dir, 'a', 'categories.json'), 'utf8'))).toEqual([
      { name: 'General', start_index: 0 }, { name: 'Character', start_index: TAG_NAMES.length }, { name: 'System', start_index: TAG_NAMES.length },
    ]);
    for (const [i, r] of records.entries()) {
      const row = rows[i]!;
      const bytes = await fs.readFile(r.path);
      expect(r.path).toBe(imagePath(summary.database, md5Hex(bytes), 'png'));
      expect(row.file_ext).toBe('png');
      const meta = await sharp(bytes).metadata();
      expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['png', SIZE, SIZE, 3]);
      expect(r.tags).toEqual([...r.tags].sort());
      expect(row.tag_count_general).toBe(r.tags.length);
      expect(r.tags.every((t) => tagsTxt.includes(t))).toBe(true);
      expect(r.tags.filter((t) => ['solo', '2others', '3others'].includes(t))).toHaveLength(1);
      expect(r.tags.filter((t) => ['white_background', 'gradient_background', 'abstract_background'].includes(t) || (t === 'simple_background' && !r.tags.includes('white_background')))).toHaveLength(1);
    }
    const counted = Object.fromEntries(TAG_NAMES.map((t) => [t, records.filter((r) => r.tags.includes(t)).length]));
    expect(summary.tagCounts).toEqual(counted);
  });

  test('every tag of every image has a non-empty mask file, indexed with its pixel count and box; no mask without its tag', async () => {
    const db = TrainingDatabase.open(summary.database, { readonly: true });
    let total = 0;
    try {
      for (const r of db.records()) {
        const masks = db.masks(r.id);
        expect(masks.map((m) => m.tag).sort()).toEqual([...r.tags].sort());
        for (const m of masks) {
          const { data, info } = await sharp(maskPath(summary.database, r.md5, m.tag)).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
          expect([info.width, info.height]).toEqual([SIZE, SIZE]);
          let pixels = 0, x0 = SIZE, y0 = SIZE, x1 = 0, y1 = 0;
          data.forEach((v, i) => {
            if (!v) return;
            pixels++;
            const x = i % SIZE, y = Math.floor(i / SIZE);
            x0 = Math.min(x0, x);
            y0 = Math.min(y0, y);
            x1 = Math.max(x1, x + 1);
            y1 = Math.max(y1, y + 1);
          });
          expect(pixels).toBeGreaterThan(0);
          expect({ pixels, box: [x0, y0, x1, y1] }, `${r.id} ${m.tag}`).toEqual({ pixels: m.pixels, box: m.box });
          total++;
        }
      }
    } finally {
      db.close();
    }
    expect(total).toBe(summary.masks);
  });

  test('the recipe stored with a post re-creates its image exactly', async () => {
    const db = TrainingDatabase.open(summary.database, { readonly: true });
    const id = START + 7, row = db.post(id)!, recipe = db.recipe(id) as SceneRecipe & { size: number; seed: number; index: number };
    db.close();
    expect([recipe.seed, recipe.index, recipe.size]).toEqual([42, 7, SIZE]);
    const again = await renderScene(recipe, { size: recipe.size });
    expect(md5Hex(await toPng(again.rgb, SIZE, SIZE, 3, { flat: true }))).toBe(row.md5);
    expect([...again.tags].sort().join(' ')).toBe(row.tag_string);
  });

  test('appends after the largest id; refuses ids that are taken; records each run with the artwork credits', async () => {
    const target = path.join(dir, 'a');
    await expect(makeSyntheticDataset(target, { count: 2, seed: 9, size: 64, startId: START + COUNT - 1 })).rejects.toThrow(`already holds 1 post(s) with ids ${START + COUNT - 1}–${START + COUNT}; choose a start id above ${START + COUNT - 1}`);
    const more = await makeSyntheticDataset(target, { count: 2, seed: 9, size: 64 });
    expect([more.firstId, more.lastId]).toEqual([START + COUNT, START + COUNT + 1]);
    const provenance = JSON.parse(await fs.readFile(path.join(target, 'provenance.json'), 'utf8')) as { runs: { seed: number }[]; artwork: { style: string; licence: string; credit: string }[] };
    expect(provenance.runs.map((r) => r.seed)).toEqual([42, 9]);
    expect(provenance.artwork.map((a) => [a.style, a.licence])).toEqual([['lorelei', 'CC0 1.0'], ['adventurer', 'CC BY 4.0']]);
    expect(provenance.artwork[1]!.credit).toContain('Lisa Wischofsky');
    const db = TrainingDatabase.open(path.join(target, 'dataset.sqlite'), { readonly: true });
    expect((db.info('runs') as unknown[]).length).toBe(2);
    db.close();
  });
});

describe('tagbooru make-dataset', () => {
  test('writes a dataset and prints what it wrote', async () => {
    const r = await cli(['make-dataset', 'synthetic', path.join(dir, 'cli'), '--count', '2', '--seed', '5', '--size', '64', '--no-masks']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote 2 images \(ids 1–2\) and 0 masks to .*dataset\.sqlite/);
    expect(r.stdout).toMatch(/solo +\d+/);
    await expect(fs.access(path.join(dir, 'cli', 'masks'))).rejects.toThrow();
  });

  test.each([
    [['make-dataset', 'synthetic', 'x', '--seed', '1'], '--count is required'],
    [['make-dataset', 'synthetic', 'x', '--count', '3'], '--seed is required'],
    [['make-dataset', 'synthetic', 'x', '--count', '0', '--seed', '1'], 'Expected an integer between 1 and 100000000 for --count but received "0"'],
    [['make-dataset', 'synthetic', 'x', '--count', '2', '--seed', '1.5'], 'Expected an integer between 0 and 4294967295 for --seed but received "1.5"'],
    [['make-dataset', 'synthetic', 'x', '--count', '2', '--seed', '1', '--size', '8'], 'Expected an integer between 32 and 2048 for --size but received "8"'],
    [['make-dataset', 'synthetic', 'x', '--count', '2', '--seed', '1', '--start-id', '0'], 'for --start-id but received "0"'],
    [['make-dataset', 'photos', 'x', '--count', '2', '--seed', '1'], 'give a dataset kind (synthetic)'],
    [['make-dataset', 'synthetic', '--count', '2', '--seed', '1'], 'give exactly one output folder'],
  ])('%j fails with a usage error', async (argv, message) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });
});
