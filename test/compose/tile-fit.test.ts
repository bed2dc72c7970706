/**
 * `tagbooru tta --tta tiles=… --fit <database>`: the per-tag weights and thresholds fitted on the validation split
 * and baked into the bundle, against the fit recomputed from the two scores the command fits on.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTta, type TileFit } from '../../src/compose/tta.ts';
import { createTagger } from '../../src/index.ts';
import { readBundle } from '../../src/infer/bundle.ts';
import { fitTileCombination } from '../../src/train/tile-fit.ts';
import { TrainingDatabase } from '../../src/data/training-db.ts';
import { cli } from '../helpers/cli.ts';
import { shapesDatabase } from '../helpers/shapes-database.ts';
import { SHAPE_TAGS } from '../helpers/shapes.ts';
import { SPEC_A, tinyMember, writeMembers } from './_members.ts';

describe('tta --fit', () => {
  let dir: string, database: string, member: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-tile-fit-'));
    database = await shapesDatabase(dir, 16, 64);
    member = (await writeMembers(dir, [tinyMember('shapes', SHAPE_TAGS, SPEC_A, 'sigmoid', 4)]))[0]!;
  });
  afterAll(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  /** Every image's scores from a bundle on disk or built in memory. */
  async function scores(bundle: string | Parameters<typeof createTagger>[0], files: string[]): Promise<Float32Array> {
    const tagger = await createTagger(bundle, { threads: 1 });
    try {
      const rows = await tagger.tag(files, { scores: true });
      const T = rows[0]!.scores!.length, out = new Float32Array(rows.length * T);
      rows.forEach((r, i) => out.set(r.scores!, i * T));
      return out;
    } finally {
      await tagger.close();
    }
  }

  it('fits each tag with enough positives on the split, re-fits its threshold, and the bundle answers with the fit', async () => {
    const out = path.join(dir, 'fitted');
    const run = await cli(['tta', member!, '--out', out, '--tta', 'tiles=2', '--fit', database, '--validation-fraction', '1', '--min-positives', '3']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/scoring 64 validation images: the whole image/);
    expect(run.stderr).toMatch(/fitted \d+ of 6 tags on 64 validation images; there, mAP [\d.]+ → [\d.]+, macro-F1/);
    const b = await readBundle(out);
    const fit = b.manifest.tta!.tiles!.fit!;
    expect((await cli(['info', out])).stdout).toMatch(/2×2 tiles of 0\.675 of the side, combined with the whole image by weights fitted for \d+ tags on 64 images/);
    expect(fit.provenance).toMatchObject({ createdBy: 'tagbooru tta --fit', images: 64, validationFraction: 1, minPositives: 3 });

    // the oracle: the same two scores, from the graph built to answer with one or the other, fitted in the test
    const db = TrainingDatabase.open(database, { readonly: true });
    const records = [...db.records()];
    db.close();
    const files = records.map((r) => r.path);
    const source = await readBundle(member!);
    const model = new Uint8Array(await fs.readFile(source.modelPath));
    const picking = (k: number): TileFit => ({ tags: Object.fromEntries(SHAPE_TAGS.map((t) => [t, k === 0 ? [1, 0, 0] : [0, 1, 0]])), provenance: {} });
    const [whole, tile] = await Promise.all([0, 1].map(async (k) => {
      const built = withTta(source.manifest, model, { flip: false, scales: [], tiles: { grid: 2, size: 0.675, fit: picking(k) } }, 'shapes');
      return scores({ dir: source.dir, manifest: built.manifest, modelPath: '', model: built.model }, files);
    }));
    const labels = new Float32Array(records.length * SHAPE_TAGS.length);
    records.forEach((r, i) => SHAPE_TAGS.forEach((t, j) => (labels[i * SHAPE_TAGS.length + j] = r.tags.includes(t) ? 1 : 0)));
    const want = fitTileCombination(whole!, tile!, labels, null, SHAPE_TAGS, new Set(), 3);
    expect(Object.keys(want.tags).length).toBeGreaterThan(0);
    // the command reads both scores from one probe pass, the oracle each through its own graph: equal to float32 rounding
    expect(Object.keys(fit.tags).sort()).toEqual(Object.keys(want.tags).sort());
    for (const [t, w] of Object.entries(want.tags)) w.forEach((v, k) => expect(fit.tags[t]![k], `${t} weight ${k}`).toBeCloseTo(v, 4));
    for (const [t, threshold] of Object.entries(want.thresholds)) expect(b.manifest.thresholds.tags?.[t], t).toBeCloseTo(threshold, 3);
    const got = await scores(out, files);
    want.probs.forEach((p, k) => expect(got[k], `score ${k}`).toBeCloseTo(p, 4));
  }, 60_000);

  it('fits on a folder of captioned images as on a database of the same images', async () => {
    const db = TrainingDatabase.open(database, { readonly: true });
    const records = [...db.records()];
    db.close();
    const folder = path.join(dir, 'captioned');
    await fs.mkdir(folder);
    for (const [k, r] of records.entries()) {
      await fs.copyFile(r.path, path.join(folder, `${k}${path.extname(r.path)}`));
      await fs.writeFile(path.join(folder, `${k}.txt`), r.tags.join(', '));
    }
    const [fromDb, fromFolder] = [path.join(dir, 'by-db'), path.join(dir, 'by-folder')];
    expect((await cli(['tta', member!, '--out', fromDb, '--tta', 'tiles=2', '--fit', database, '--validation-fraction', '1', '--min-positives', '3'])).code).toBe(0);
    const run = await cli(['tta', member!, '--out', fromFolder, '--tta', 'tiles=2', '--fit', folder, '--min-positives', '3']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/fitted \d+ of 6 tags on 64 captioned images/);
    const [a, b] = [(await readBundle(fromFolder)).manifest, (await readBundle(fromDb)).manifest];
    expect(Object.keys(a.tta!.tiles!.fit!.tags).length).toBeGreaterThan(0);
    expect(a.tta!.tiles!.fit!.tags).toEqual(b.tta!.tiles!.fit!.tags);
    expect(a.thresholds).toEqual(b.thresholds);
    expect(a.tta!.tiles!.fit!.provenance).toMatchObject({ folder: `${path.basename(dir)}/captioned`, images: 64 });
  }, 60_000);

  it('refuses --fit without tiles, the fit\'s flags without --fit, and a split too small to fit on', async () => {
    const noTiles = await cli(['tta', member!, '--out', path.join(dir, 'x'), '--tta', 'flip', '--fit', database]);
    expect(noTiles.stderr).toMatch(/--fit fits tiled test-time augmentation: add tiles=… to --tta/);
    const stray = await cli(['tta', member!, '--out', path.join(dir, 'x'), '--tta', 'tiles=2', '--validation-fraction', '0.5']);
    expect(stray.stderr).toMatch(/--validation-fraction goes with --fit/);
    const small = await cli(['tta', member!, '--out', path.join(dir, 'x'), '--tta', 'tiles=2', '--fit', database, '--validation-fraction', '0.1']);
    expect(small.stderr).toMatch(/holds \d+ images; fitting tiles needs at least 50/);
    expect([noTiles.code, stray.code, small.code]).toEqual([2, 2, 2]);
  }, 60_000);
});
