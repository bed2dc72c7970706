/**
 * `train-project`'s validation honours the database's unknown tags: a positive recorded as unknown is no
 * support in metrics.json, and a tag whose every validation positive is unknown keeps the fallback threshold.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { TrainingDatabase } from '../../src/data/index.ts';
import { isValidation } from '../../src/data/split.ts';
import { cli } from '../helpers/cli.ts';
import { shapesDatabase } from '../helpers/shapes-database.ts';
import { SHAPE_TAGS } from '../helpers/shapes.ts';

const SIZE = 16, FRACTION = 0.5;
let root: string, database: string;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-project-mask-'));
  database = await shapesDatabase(root, SIZE, 24);
});

afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

test('metrics.json and the fitted thresholds leave unknown (image, tag) pairs out', async () => {
  const db = TrainingDatabase.open(database);
  const validation = [...db.records()].filter((r) => isValidation(r.id, FRACTION));
  // every validation `circle` unknown; `square` unknown on its first validation positive only
  const squares = validation.filter((r) => r.tags.includes('square'));
  const unknown = new Map(validation.map((r) => [r.id, [...(r.tags.includes('circle') ? ['circle'] : []), ...(r.id === squares[0]?.id ? ['square'] : [])]]));
  db.insertChoices([...unknown].map(([postId, tags]) => ({ postId, choices: {}, unknownTags: tags })));
  db.close();
  expect([validation.filter((r) => r.tags.includes('circle')).length, squares.length].every((n) => n >= 2)).toBe(true);

  const dir = path.join(root, 'project');
  await fs.mkdir(dir);
  await fs.writeFile(path.join(dir, 'tags.txt'), `${SHAPE_TAGS.join('\n')}\n`);
  await fs.writeFile(path.join(dir, 'project.json'), JSON.stringify({
    image_width: SIZE, image_height: SIZE, database_path: database, minimum_tag_count: 1, model: 'test_tiny',
    minibatch_size: 4, epoch_count: 1, console_logging_frequency_mb: 100, rotation_range: false, scale_range: false, shift_range: false,
    validation_fraction: FRACTION, seed: 3,
  }));
  const run = await cli(['train-project', dir, '--threads', '1']);
  expect(run.code, run.stderr).toBe(0);
  const bundle = path.join(dir, 'model-test_tiny');
  const metrics = JSON.parse(await fs.readFile(path.join(bundle, 'metrics.json'), 'utf8')) as { samples: number; perTag: { tag: string; support: number }[] };
  expect(metrics.samples).toBe(validation.length);
  const support = Object.fromEntries(metrics.perTag.map((t) => [t.tag, t.support]));
  const positives = (tag: string) => validation.filter((r) => r.tags.includes(tag)).length;
  expect(support).toEqual({ ...Object.fromEntries(SHAPE_TAGS.map((t) => [t, positives(t)])), circle: 0, square: squares.length - 1 });
  // no known positive of circle: nothing to fit its threshold on, so it keeps 0.5; square is fitted
  const manifest = JSON.parse(await fs.readFile(path.join(bundle, 'tagger.json'), 'utf8')) as { thresholds: { tags: Record<string, number> } };
  expect(manifest.thresholds.tags.circle).toBe(0.5);
  expect(manifest.thresholds.tags.square).not.toBe(0.5);
}, 120_000);
