/**
 * The training database's ground-truth masks reach the label rules: a sample cropped away from its drawn
 * square comes out of recordSamples with that tag unknown, read from a real SQLite file and mask PNG; and a
 * decoded image kept across epochs gives the samples a fresh decode would.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { imagePath, maskPath } from '../../src/data/paths.ts';
import { TrainingDatabase } from '../../src/data/training-db.ts';
import { encodeMaskPng } from '../../src/dataset/synthetic/mask-png.ts';
import { Rng } from '../../src/models/random.ts';
import { LabelRules } from '../../src/train/label-rules.ts';
import { loadSplit, recordSamples } from '../../src/train/dataset.ts';
import { DecodedCache } from '../../src/train/decoded-cache.ts';

const TAGS = ['square', 'smile', 'white_background'];
const MD5 = '0123456789abcdef0123456789abcdef';
let dir: string, db: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-augment-dataset-'));
  db = path.join(dir, 'training.sqlite');
  const rgb = new Uint8Array(20 * 20 * 3).fill(255), mask = new Uint8Array(20 * 20);
  for (let y = 2; y < 7; y++) for (let x = 2; x < 7; x++) {
    rgb.set([255, 0, 0], (y * 20 + x) * 3);
    mask[y * 20 + x] = 255;
  }
  const database = TrainingDatabase.open(db, { create: true });
  database.insertPosts([{ id: 1, md5: MD5, file_ext: 'png', tag_string: 'square smile white_background', tag_count_general: 3 }]);
  database.insertMasks([{ postId: 1, tag: 'square', pixels: 25, box: [2, 2, 7, 7] }]);
  database.insertChoices([{ postId: 1, choices: { rendering: 'colour' }, unknownTags: ['white_background', 'not_in_tags_txt'] }]);
  database.close();
  await fs.mkdir(path.dirname(imagePath(db, MD5, 'png')), { recursive: true });
  await sharp(rgb, { raw: { width: 20, height: 20, channels: 3 } }).png().toFile(imagePath(db, MD5, 'png'));
  await fs.mkdir(path.dirname(maskPath(db, MD5, 'square')), { recursive: true });
  await fs.writeFile(maskPath(db, MD5, 'square'), encodeMaskPng(mask, 20, 20));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

test('a crop away from the drawn square makes its tag unknown in the sample\'s loss mask', async () => {
  const split = loadSplit(db, TAGS, { minimumTagCount: 0, validationFraction: 0, settingsFile: 'project.json' });
  expect(split.train[0]!.parts).toEqual([{ tag: 0, box: [2, 2, 7, 7], file: maskPath(db, MD5, 'square') }]);
  const data = recordSamples(split.train, {
    width: 20, height: 20, tags: TAGS.length, labelRules: new LabelRules(TAGS, { part_visible_min: 0.5, frame_visible_min: 0 }),
    augment: { rotation: null, scale: null, shift: null, flip: false, corruption: 0, ops: { crop: { probability: 1, area: [0.25, 0.25], ratio: [1, 1] } } },
  });
  // the square covers 5×5 source pixels, 100 output pixels at the crop's ×2: all of it seen, or none
  const seen = new Map<string, Float32Array | undefined>();
  for (let seed = 0; seed < 60 && seen.size < 2; seed++) {
    const s = (await data.load(0, new Rng(seed)))!;
    expect(Array.from(s.labels)).toEqual([1, 1, 1]);
    const red = s.x.filter((v, i) => i % 3 === 1 && v < 0.5).length;
    if (red === 0 || red >= 90) seen.set(red ? 'kept' : 'cut', s.mask);
  }
  // frame_visible_min 0: smile (no mask) stays known; white_background is unknown in the database itself
  expect(seen.get('cut')).toEqual(Float32Array.of(0, 1, 0));
  expect(seen.get('kept')).toEqual(Float32Array.of(1, 1, 0));
});

test('the database\'s unknown tags are masked out with and without augmentation, and an op that adds a tag makes it known', async () => {
  const split = loadSplit(db, TAGS, { minimumTagCount: 0, validationFraction: 0, settingsFile: 'project.json' });
  expect(Array.from(split.train[0]!.unknown)).toEqual([2]); // a name tags.txt lacks is ignored
  const plain = recordSamples(split.train, { width: 20, height: 20, tags: TAGS.length, augment: null });
  expect((await plain.load(0, new Rng(1)))!.mask).toEqual(Float32Array.of(1, 1, 0));
  const tags = ['square', 'white_background', 'monochrome'];
  const grey = loadSplit(db, tags, { minimumTagCount: 0, validationFraction: 0, settingsFile: 'project.json' });
  const data = recordSamples(grey.train, {
    width: 20, height: 20, tags: tags.length, labelRules: new LabelRules(tags, { part_visible_min: 0.5, frame_visible_min: 0 }),
    augment: { rotation: null, scale: null, shift: null, flip: false, corruption: 0, ops: { greyscale: { probability: 1 } } },
  });
  const s = (await data.load(0, new Rng(1)))!;
  expect(Array.from(s.labels)).toEqual([1, 1, 1]); // greyscale adds monochrome
  expect(Array.from(s.mask!)).toEqual([1, 0, 1]);
});

test('an image kept decoded gives the very samples a fresh decode gives, through every pixel op, and is not changed by them', async () => {
  const split = loadSplit(db, TAGS, { minimumTagCount: 0, validationFraction: 0, settingsFile: 'project.json' });
  const every = { probability: 0.5 };
  const augment = {
    rotation: [-10, 10], scale: [0.9, 1.1], shift: [-0.1, 0.1], flip: true, corruption: 0,
    ops: { crop: every, cutout: every, greyscale: every, tint: every, lineart: every, screentone: every, brightness: every, contrast: every, blur: every, downscale: every, noise: every, jpeg: every },
  } as const;
  const cache = new DecodedCache(1 << 20);
  for (const a of [augment, null]) {
    const o = { width: 16, height: 16, tags: TAGS.length, augment: a, labelRules: new LabelRules(TAGS, { part_visible_min: 0.5, frame_visible_min: 0 }) };
    const [fresh, kept] = [recordSamples(split.train, o), recordSamples(split.train, { ...o, cache })];
    for (let seed = 0; seed < 12; seed++) expect((await kept.load(0, new Rng(seed)))!).toEqual((await fresh.load(0, new Rng(seed)))!);
  }
  expect(cache.stats).toEqual({ images: 1, bytes: 20 * 20 * 3 });
});
