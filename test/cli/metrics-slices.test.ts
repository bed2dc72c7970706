/**
 * `tagbooru metrics` on a generated dataset with the bundled model: unknown tags count nowhere, and `--by`
 * slices equal the unsliced figures of the same database cut down to the slice.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TrainingDatabase } from '../../src/data/index.ts';
import { openSqlite } from '../../src/data/sqlite.ts';
import { choiceSlices } from '../../src/dataset/synthetic/choices.ts';
import { makeSyntheticDataset } from '../../src/dataset/synthetic/dataset.ts';
import { readBundle } from '../../src/infer/bundle.ts';
import { createTagger } from '../../src/tagger.ts';
import { cli } from '../helpers/cli.ts';

const MODEL = path.resolve('models/default');
let dir: string, db: string;

interface Row { value: string; images: number; microF1: number; macroF1: number; mAP: number; tags: number }
interface Scored { samples: number; microF1: number; macroF1: number; mAP: number; perTag: { tag: string; support: number; precision: number; recall: number }[]; slices?: Record<string, Row[]> }

async function metrics(database: string, ...flags: string[]): Promise<Scored> {
  const r = await cli(['metrics', MODEL, database, '--all', '-f', 'json', ...flags]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Scored;
}

/** A copy of the database beside it (the images resolve from its folder) holding only the posts `keep` selects. */
async function cutDown(name: string, keep: string): Promise<string> {
  const copy = path.join(path.dirname(db), `${name}.sqlite`);
  await fs.copyFile(db, copy);
  const sql = openSqlite(copy);
  try {
    sql.exec(`DELETE FROM posts WHERE id NOT IN (SELECT post_id FROM tagbooru_choices WHERE ${keep})`);
  } finally {
    sql.close();
  }
  return copy;
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-metrics-slices-'));
  // the wide preset: renderings that hide hair colours, ambiguous parts recorded as unknown, corruptions
  db = (await makeSyntheticDataset(path.join(dir, 'ds'), { count: 12, seed: 4, size: 96, preset: 'wide', masks: false })).database;
}, 60_000);

afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('choiceSlices', () => {
  test('scalar choices under kebab-case keys, face size in quarters of the largest face, every corruption drawn or none', () => {
    const s = choiceSlices({ style: 'mixed', styles: ['adventurer', 'lorelei'], visibleCharacters: 2, cropped: true, faceSize: { min: 0.1, max: 0.25 }, corruptions: { jpeg: 11, blur: 1.4 }, parts: [] });
    expect(Object.fromEntries(s)).toEqual({
      style: ['mixed'], 'visible-characters': ['2'], cropped: ['true'], 'face-size': ['0.25–0.5'], styles: ['adventurer', 'lorelei'], corruption: ['blur', 'jpeg'],
    });
    expect(choiceSlices({ faceSize: { min: 1, max: 1 }, corruptions: {} }).get('face-size')).toEqual(['0.75–1']);
    expect(choiceSlices({ faceSize: { min: 0.1, max: 0.249 }, corruptions: {} }).get('corruption')).toEqual(['none']);
    expect(choiceSlices({ faceSize: { min: 0.1, max: 0.249 } }).get('face-size')).toEqual(['0–0.25']);
    expect(choiceSlices(null).size).toBe(0);
  });
});

test('unknown tags are neither positives nor negatives: per-tag counts match a count by hand from the model\'s own scores', async () => {
  const bundle = await readBundle(MODEL);
  const names = bundle.manifest.tags.map((t) => t.name);
  const thresholds = names.map((n) => bundle.manifest.thresholds.tags?.[n] ?? bundle.manifest.thresholds.default);
  const data = TrainingDatabase.open(db, { readonly: true });
  const records = [...data.records()], unknown = data.unknownTags();
  data.close();
  const tagger = await createTagger(bundle);
  const counts = names.map(() => ({ tp: 0, fp: 0, fn: 0 }));
  let unknownAbove = 0;
  try {
    let i = 0;
    for await (const r of tagger.stream(records.map((x) => x.path), { scores: true })) {
      const record = records[i++]!;
      names.forEach((name, j) => {
        const predicted = r.scores![j]! >= thresholds[j]!, positive = record.tags.includes(name);
        if (unknown.get(record.id)?.includes(name)) {
          if (predicted) unknownAbove++;
          return;
        }
        if (predicted && positive) counts[j]!.tp++;
        else if (predicted) counts[j]!.fp++;
        else if (positive) counts[j]!.fn++;
      });
    }
  } finally {
    await tagger.close();
  }
  // the test can fail: some unknown pairs score above their threshold and would be false positives if counted
  expect(unknownAbove).toBeGreaterThan(0);
  const m = await metrics(db);
  expect(m.samples).toBe(12);
  m.perTag.forEach((t, j) => {
    const { tp, fp, fn } = counts[j]!;
    expect([t.tag, t.support, t.precision, t.recall]).toEqual([names[j], tp + fn, tp + fp ? tp / (tp + fp) : 0, tp + fn ? tp / (tp + fn) : 0]);
  });
}, 60_000);

test('--by rendering: each slice\'s figures are the unsliced figures of the database cut down to it, at the bundle\'s thresholds', async () => {
  const m = await metrics(db, '--by', 'rendering', '--by', 'corruption,face-size');
  const rendering = m.slices!.rendering!;
  expect(rendering.reduce((a, r) => a + r.images, 0)).toBe(12);
  expect(rendering.length).toBeGreaterThan(1);
  for (const row of rendering) {
    const alone = await metrics(await cutDown(`rendering-${row.value}`, `json_extract(choices, '$.rendering') = '${row.value}'`));
    expect(row.images).toBe(alone.samples);
    expect([row.microF1, row.macroF1, row.mAP]).toEqual([alone.microF1, alone.macroF1, alone.mAP]);
    expect(row.tags).toBe(alone.perTag.filter((t) => t.support > 0).length);
  }
  // an image with two corruptions is in both slices; none is a slice of its own
  const sql = openSqlite(db, { readonly: true });
  const clean = (sql.prepare("SELECT count(*) AS n FROM tagbooru_choices WHERE json_extract(choices, '$.corruptions') = '{}'").get() as { n: number }).n;
  sql.close();
  const corruption = m.slices!.corruption!;
  expect(corruption.find((r) => r.value === 'none')?.images ?? 0).toBe(clean);
  expect(corruption.reduce((a, r) => a + r.images, 0)).toBeGreaterThanOrEqual(12);
  expect(m.slices!['face-size']!.map((r) => r.value)).toEqual([...m.slices!['face-size']!.map((r) => r.value)].sort((a, b) => parseFloat(a) - parseFloat(b)));
}, 60_000);

test('--ceiling: each tag at its F1-best threshold on these images, the F1 a brute-force search over every cut finds', async () => {
  const bundle = await readBundle(MODEL);
  const names = bundle.manifest.tags.map((t) => t.name);
  const data = TrainingDatabase.open(db, { readonly: true });
  const records = [...data.records()], unknown = data.unknownTags();
  data.close();
  const tagger = await createTagger(bundle);
  const scores: Float32Array[] = [];
  try {
    for await (const r of tagger.stream(records.map((x) => x.path), { scores: true })) scores.push(r.scores!);
  } finally {
    await tagger.close();
  }
  const f1At = (j: number, t: number) => {
    let tp = 0, fp = 0, fn = 0;
    records.forEach((record, i) => {
      if (unknown.get(record.id)?.includes(names[j]!)) return;
      const predicted = scores[i]![j]! >= t, positive = record.tags.includes(names[j]!);
      if (predicted && positive) tp++;
      else if (predicted) fp++;
      else if (positive) fn++;
    });
    return tp ? (2 * tp) / (2 * tp + fp + fn) : 0;
  };
  const supported = names.map((_, j) => j).filter((j) => records.some((r) => r.tags.includes(names[j]!) && !unknown.get(r.id)?.includes(names[j]!)));
  // every cut at an observed score, and above them all
  const best = supported.map((j) => Math.max(...[...scores.map((s) => s[j]!), 2].map((t) => f1At(j, t))));
  const m = (await cli(['metrics', MODEL, db, '--all', '-f', 'json', '--ceiling'])).stdout;
  const doc = JSON.parse(m) as Scored & { ceiling: { microF1: number; macroF1: number; thresholds: Record<string, number> } };
  expect(doc.ceiling.macroF1).toBeCloseTo(best.reduce((a, b) => a + b, 0) / best.length, 6);
  // the test can fail: on these images the bundle's own thresholds are not the best ones
  expect(doc.ceiling.macroF1).toBeGreaterThan(doc.macroF1 + 0.01);
  supported.forEach((j, k) => expect(f1At(j, doc.ceiling.thresholds[names[j]!]!)).toBeCloseTo(best[k]!, 9));
  const table = await cli(['metrics', MODEL, db, '--all', '--ceiling']);
  expect(table.stdout).toContain(`ceiling: thresholds fitted on these images   micro F1 ${(doc.ceiling.microF1 * 100).toFixed(1)}%   macro F1 ${(doc.ceiling.macroF1 * 100).toFixed(1)}%`);
}, 60_000);

test('the table has one block per key; an unknown key or a database without choices is a usage error naming the keys there are', async () => {
  const table = await cli(['metrics', MODEL, db, '--all', '--by', 'style,rendering']);
  expect(table.code, table.stderr).toBe(0);
  expect(table.stdout).toMatch(/^by style +images {2}micro F1 {2}macro F1 +mAP {2}tags$/m);
  expect(table.stdout).toMatch(/^by rendering +images/m);
  expect(table.stdout).toContain('at least one known positive in the slice');

  const bogus = await cli(['metrics', MODEL, db, '--all', '--by', 'style,hats']);
  expect(bogus.code).toBe(2);
  expect(bogus.stderr).toMatch(/--by hats: not a recorded choice in .*; expected one of .*corruption, .*face-size, .*rendering, .*style/);

  const bare = path.join(path.dirname(db), 'bare.sqlite');
  await fs.copyFile(db, bare);
  const sql = openSqlite(bare);
  sql.exec('DROP TABLE tagbooru_choices');
  sql.close();
  const none = await cli(['metrics', MODEL, bare, '--all', '--by', 'style']);
  expect(none.code).toBe(2);
  expect(none.stderr).toContain('--by needs the generator\'s recorded choices');
}, 60_000);
