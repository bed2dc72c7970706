/**
 * `tagbooru calibrate` end to end on the bundled model (a real ONNX Runtime session) and a small synthetic
 * database: only the validation split is read, the calibration is stored and applied by tagging, the thresholds
 * are re-fitted, and `metrics` reports before and after.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TrainingDatabase } from '../../src/data/training-db.ts';
import { isValidation } from '../../src/data/split.ts';
import { decodeImage } from '../../src/image/decode.ts';
import { readBundle, type BundleManifest } from '../../src/infer/bundle.ts';
import { calibrator, logit, type IsotonicParameters, type PlattParameters } from '../../src/infer/calibration.ts';
import { buildApp } from '../../src/server/app.ts';
import { createTagger } from '../../src/tagger.ts';
import { cli } from '../helpers/cli.ts';
import { multipart, type Part } from '../server/_fixtures.ts';

const DEFAULT = path.resolve('models/default');
const FRACTION = 0.5;
let dir: string, database: string, validation: { id: number; path: string; tags: string[] }[];

const manifestOf = async (bundle: string) => JSON.parse(await fs.readFile(path.join(bundle, 'tagger.json'), 'utf8')) as BundleManifest;

async function scores(bundle: string, files: readonly string[]): Promise<Float32Array[]> {
  const tagger = await createTagger(bundle);
  try {
    return (await tagger.tag(files, { scores: true })).map((r) => r.scores!);
  } finally {
    await tagger.close();
  }
}

async function oodLogits(bundle: string, file: string): Promise<number[]> {
  const tagger = await createTagger(bundle);
  try {
    return [...(await tagger.tag(file, { oodInputs: true })).oodInputs!.logits];
  } finally {
    await tagger.close();
  }
}

/** F1 of one tag at threshold t (score ≥ t is a positive). */
function f1(s: readonly number[], y: readonly boolean[], t: number): number {
  let tp = 0, fp = 0, fn = 0;
  s.forEach((v, i) => {
    if (v >= t && y[i]) tp++;
    else if (v >= t) fp++;
    else if (y[i]) fn++;
  });
  return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-calibrate-'));
  const made = await cli(['make-dataset', 'synthetic', path.join(dir, 'data'), '--count', '120', '--seed', '7', '--size', '96', '--start-id', '3000001', '--no-masks']);
  expect(made.code).toBe(0);
  database = path.join(dir, 'data', 'dataset.sqlite');
  const db = TrainingDatabase.open(database, { readonly: true });
  const records = [...db.records()];
  db.close();
  validation = records.filter((r) => isValidation(r.id, FRACTION));
  // every image outside the split is corrupt: reading one would fail its decode and be reported
  for (const r of records) if (!isValidation(r.id, FRACTION)) await fs.writeFile(r.path, 'not an image');
}, 120_000);

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('calibrate', () => {
  test('fits Platt on the validation split only, and tag applies it with re-fitted thresholds', async () => {
    const out = path.join(dir, 'platt');
    const r = await cli(['calibrate', DEFAULT, database, '--method', 'platt', '--validation-fraction', String(FRACTION), '--min-positives', '8', '--out', out]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(validation.length).toBeGreaterThanOrEqual(50);
    const m = await manifestOf(out);
    const cal = m.calibration!;
    expect(cal.method).toBe('platt');
    expect(cal.provenance).toMatchObject({ database: 'data/dataset.sqlite', validationFraction: FRACTION, images: validation.length, minPositives: 8 });
    const uncalibrated = cal.provenance.uncalibrated as string[];
    expect(Object.keys(cal.tags).length + uncalibrated.length).toBe(m.tags.length);
    expect(r.stdout).toContain(`platt calibration of ${Object.keys(cal.tags).length} of ${m.tags.length} tags on ${validation.length} validation images`);
    if (uncalibrated.length) expect(r.stdout).toContain(`${uncalibrated.length} left uncalibrated`);
    // the source bundle is untouched; the thresholds it had are kept for metrics --uncalibrated
    const original = await manifestOf(DEFAULT);
    expect(original.calibration).toBeUndefined();
    expect(cal.provenance.thresholds).toEqual(original.thresholds);

    // the calibrated bundle's scores are sigmoid(a·logit(p) + b) of the original's, tag by tag
    const files = validation.map((v) => v.path);
    const raw = await scores(DEFAULT, files);
    const names = m.tags.map((t) => t.name);
    const formula = names.map((name) => {
      const p = cal.tags[name] as PlattParameters | undefined;
      return (s: number) => (p ? 1 / (1 + Math.exp(-(p.a * logit(s) + p.b))) : s);
    });
    const calibrated = raw.map((row) => Array.from(row, (s, j) => formula[j]!(s)));
    const sample = await scores(out, files.slice(0, 8));
    sample.forEach((row, i) => row.forEach((s, j) => expect(s).toBeCloseTo(calibrated[i]![j]!, 5)));

    // each calibrated tag's new threshold gives the best F1 any threshold gives on the calibrated scores
    let changed = 0;
    for (const name of Object.keys(cal.tags)) {
      const j = names.indexOf(name);
      const s = calibrated.map((row) => row[j]!), y = validation.map((v) => v.tags.includes(name));
      const t = m.thresholds.tags![name]!;
      const best = Math.max(...s.map((v) => f1(s, y, v)));
      expect(f1(s, y, t)).toBeCloseTo(best, 9);
      if (t !== original.thresholds.tags?.[name]) changed++;
    }
    expect(changed).toBeGreaterThan(0);

    // `tag` prints the calibrated scores and selects with the new thresholds
    const tagged = await cli(['tag', files[0]!, '--model', out, '--format', 'json']);
    expect(tagged.code).toBe(0);
    const [{ tags, ood }] = JSON.parse(tagged.stdout) as [{ tags: { name: string; score: number }[]; ood: unknown }];
    // the OOD scores read the raw outputs they were fitted on (energy: the logits), not the calibrated ones
    expect(ood).toBeDefined();
    const [before, after] = [await oodLogits(DEFAULT, files[0]!), await oodLogits(out, files[0]!)];
    expect(after).toEqual(before);
    const expectedTags = names.filter((n, j) => calibrated[0]![j]! >= m.thresholds.tags![n]! && m.tags[j]!.category !== 'rating');
    expect(tags.map((t) => t.name).sort()).toEqual(expectedTags.sort());
    for (const t of tags) expect(t.score).toBeCloseTo(calibrated[0]![names.indexOf(t.name)]!, 4);

    // and so does the server's POST /v1/tag (the web UI's server mode)
    const app = await buildApp({ model: out, prepWorkers: 1, maxUploadBytes: 1 << 20, maxFiles: 1 });
    try {
      const parts: Part[] = [{ name: 'file', value: await fs.readFile(files[0]!), filename: 'a.png', type: 'image/png' }, { name: 'floor', value: '0' }];
      const res = await app.inject({ method: 'POST', url: '/v1/tag', ...multipart(parts) });
      expect(res.statusCode).toBe(200);
      const served = res.json<{ results: [{ scores: { name: string; score: number }[] }] }>().results[0].scores;
      expect(served).toHaveLength(names.length);
      for (const t of served) expect(t.score).toBeCloseTo(calibrated[0]![names.indexOf(t.name)]!, 5);
    } finally {
      await app.close();
    }
  }, 60_000);

  test('isotonic in place: the bundle still loads, each tag\'s map is monotone; metrics --uncalibrated gives the original back', async () => {
    const bundle = path.join(dir, 'copy');
    await fs.cp(DEFAULT, bundle, { recursive: true });
    const r = await cli(['calibrate', bundle, database, '--method', 'isotonic', '--validation-fraction', String(FRACTION), '--min-positives', '8']);
    expect(r.code).toBe(0);
    const { manifest } = await readBundle(bundle);
    expect(manifest.calibration?.method).toBe('isotonic');
    expect(Object.keys(manifest.calibration!.tags).length).toBeGreaterThan(0);
    for (const params of Object.values(manifest.calibration!.tags)) {
      const c = calibrator('isotonic', params), grid = Array.from({ length: 401 }, (_, k) => -20 + k / 10).map(c);
      for (let k = 1; k < grid.length; k++) expect(grid[k]!).toBeGreaterThanOrEqual(grid[k - 1]!);
      expect(grid[0]).toBe((params as IsotonicParameters).y[0]);
    }

    const small = path.join(dir, 'small');
    expect((await cli(['make-dataset', 'synthetic', small, '--count', '16', '--seed', '9', '--size', '96', '--start-id', '4000001', '--no-masks'])).code).toBe(0);
    const db = path.join(small, 'dataset.sqlite'), plot = path.join(dir, 'reliability.png');
    const json = async (args: string[]) => {
      const run = await cli(['metrics', ...args, db, '--all', '--format', 'json']);
      expect(run.code).toBe(0);
      return JSON.parse(run.stdout) as { microF1: number; calibration: { eceMacro: number; brierMicro: number; pairs: number } };
    };
    const [before, restored, after] = [await json([DEFAULT]), await json([bundle, '--uncalibrated']), await json([bundle, '--plot', plot])];
    expect(restored.microF1).toBe(before.microF1);
    expect(restored.calibration).toEqual(before.calibration);
    expect(after.calibration.pairs).toBe(16 * manifest.tags.length);
    expect(after.calibration.brierMicro).not.toBe(before.calibration.brierMicro);
    const image = await decodeImage(await fs.readFile(plot));
    expect([image.width, image.height]).toEqual([408, 514]);
  }, 60_000);

  test('a folder of captioned images is a calibration set as a whole: the same fit as the database\'s split of those images', async () => {
    const db = TrainingDatabase.open(database, { readonly: true });
    const unknown = db.unknownTags();
    db.close();
    // captions cannot say "unknown": the equality below needs a split without unknown labels
    expect(validation.filter((r) => (unknown.get(r.id) ?? []).length > 0)).toEqual([]);
    const folder = path.join(dir, 'captioned');
    await fs.mkdir(folder);
    for (const [k, r] of validation.entries()) {
      const name = `image-${k}`;
      await fs.copyFile(r.path, path.join(folder, `${name}${path.extname(r.path)}`));
      await fs.writeFile(path.join(folder, `${name}.txt`), r.tags.join(', '));
    }
    await fs.writeFile(path.join(folder, 'uncaptioned.png'), 'never read: it has no sidecar');
    const fromFolder = await cli(['calibrate', DEFAULT, folder, '--min-positives', '8', '--out', path.join(dir, 'by-folder')]);
    expect(fromFolder.code, fromFolder.stderr).toBe(0);
    expect(fromFolder.stdout).toMatch(new RegExp(`on ${validation.length} captioned images`));
    const fromDb = await cli(['calibrate', DEFAULT, database, '--validation-fraction', String(FRACTION), '--min-positives', '8', '--out', path.join(dir, 'by-db')]);
    expect(fromDb.code, fromDb.stderr).toBe(0);
    const [a, b] = [await manifestOf(path.join(dir, 'by-folder')), await manifestOf(path.join(dir, 'by-db'))];
    expect(Object.keys(a.calibration!.tags).length).toBeGreaterThan(0);
    expect(a.calibration!.tags).toEqual(b.calibration!.tags);
    expect(a.thresholds).toEqual(b.thresholds);
    expect(a.calibration!.provenance).toMatchObject({ folder: `${path.basename(dir)}/captioned`, images: validation.length });
    expect(a.calibration!.provenance.validationFraction).toBeUndefined();
    const info = await cli(['info', path.join(dir, 'by-folder')]);
    expect(info.stdout).toMatch(/on \d+ captioned images of tagbooru-calibrate-\w+\/captioned, 20/);

    const split = await cli(['calibrate', DEFAULT, folder, '--validation-fraction', '0.5']);
    expect(split.code).toBe(2);
    expect(split.stderr).toMatch(/--validation-fraction splits a training database; the folder .*captioned is a fitting set as a whole/);
    const few = path.join(dir, 'few');
    await fs.mkdir(few);
    await fs.copyFile(validation[0]!.path, path.join(few, 'a.png'));
    await fs.writeFile(path.join(few, 'a.txt'), 'solo');
    const small = await cli(['calibrate', DEFAULT, few]);
    expect(small.code).toBe(2);
    expect(small.stderr).toMatch(/few holds 1 images with a caption sidecar \(name\.txt beside name\.png\); calibration needs at least 50/);
  }, 120_000);

  test('a split too small, an unknown method, a missing database: usage errors that say what to do', async () => {
    const small = await cli(['calibrate', DEFAULT, database, '--validation-fraction', '0.05', '--out', path.join(dir, 'never')]);
    expect(small.code).toBe(2);
    expect(small.stderr).toMatch(/validation split of .* at --validation-fraction 0\.05 holds \d+ images; calibration needs at least 50: raise --validation-fraction/);
    await expect(fs.access(path.join(dir, 'never'))).rejects.toThrow();

    const method = await cli(['calibrate', DEFAULT, database, '--method', 'histogram']);
    expect(method.code).toBe(2);
    expect(method.stderr).toMatch(/Expected one of temperature, platt, isotonic for --method but received "histogram"/);

    const missing = await cli(['calibrate', DEFAULT]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/usage: tagbooru calibrate <bundle> <training\.sqlite \| folder with \.txt sidecars>/);
    const absent = await cli(['calibrate', DEFAULT, path.join(dir, 'nope.sqlite')]);
    expect(absent.stderr).toMatch(/training database not found/);

    const fraction = await cli(['calibrate', DEFAULT, database, '--validation-fraction', '0']);
    expect(fraction.stderr).toMatch(/Expected a number above 0 and at most 1 for --validation-fraction but received "0"/);
    const global = await cli(['calibrate', DEFAULT, database, '--method', 'platt', '--global']);
    expect(global.stderr).toMatch(/--global fits one temperature for every tag; it does not apply to --method platt/);
  });
});
