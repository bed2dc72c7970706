/**
 * `tagbooru maps-eval` end to end: a generated dataset with masks, the bundled model (no --model), the table
 * and JSON reports, the refinement and tag filters, and the errors for bad options and mask-less data.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { evaluateMaps } from '../../src/explain/maps-eval.ts';
import { DEFAULT_MODEL_DIR } from '../../src/package.ts';
import { cli } from '../helpers/cli.ts';

let dir: string, data: string, bare: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-maps-eval-'));
  data = path.join(dir, 'heldout');
  bare = path.join(dir, 'bare');
  for (const [out, extra] of [[data, []], [bare, ['--no-masks', '--count', '2']]] as const) {
    const r = await cli(['make-dataset', 'synthetic', out, '--count', '30', '--seed', '21', '--size', '224', ...extra]);
    expect(r.code, r.stderr).toBe(0);
  }
}, 120_000);
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

interface Report {
  method: string;
  refine: string;
  images: number;
  threshold: number;
  pointing: number;
  pointingStrict: number;
  mIoU: number;
  perTag: { tag: string; instances: number; pointing: number; pointingStrict: number; iou: number }[];
}

describe('maps-eval', () => {
  test('the bundled model on held-out masks: pointing and mIoU per tag, placeless tags skipped', async () => {
    const r = await cli(['maps-eval', data, '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect([report.method, report.refine, report.images]).toEqual(['cam', 'none', 30]);
    const tags = report.perTag.map((t) => t.tag);
    expect(tags).not.toContain('solo');
    expect(tags).toContain('long_hair');
    expect(report.threshold).toBeGreaterThan(0);
    expect(report.threshold).toBeLessThan(1);
    // on 2,000 held-out images: pointing 82 %, strict 42 %, mIoU 22 %; 30 images scatter around that
    expect(report.pointing).toBeGreaterThan(0.6);
    expect(report.pointingStrict).toBeLessThanOrEqual(report.pointing);
    expect(report.mIoU).toBeGreaterThan(0.1);
    expect(report.mIoU).toBeLessThan(0.6);
    for (const t of report.perTag) expect(t.iou).toBeGreaterThanOrEqual(0);
  }, 120_000);

  test('the table, one tag, and the guided refinement', async () => {
    const r = await cli(['maps-eval', data, '--tags', 'long_hair', '--refine', 'guided']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^tag\s+instances\s+pointing\s+strict\s+IoU$/);
    expect(lines[1]).toMatch(/^long_hair\s+\d+/);
    expect(lines.at(-1)).toMatch(/^method cam \(guided\)\s+images \d+ .* pointing game \d+\.\d% \(±15 px\), strict \d+\.\d%\s+mIoU \d+\.\d% at τ = 0\.\d\d$/);
  }, 120_000);

  test('--map-stride 16: the finer cam, reported as such; a stride the model cannot give is refused', async () => {
    const r = await cli(['maps-eval', data, '--map-stride', '16', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report & { mapStride: number };
    expect([report.method, report.mapStride, report.images]).toEqual(['cam', 16, 30]);
    // on 2,000 held-out images: pointing 87.5 % (cam at 32 px: 82.2 %), mIoU 22 %
    expect(report.pointing).toBeGreaterThan(0.6);
    expect(report.mIoU).toBeGreaterThan(0.1);
    const bad = await cli(['maps-eval', data, '--map-stride', '12']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch('Expected one of 32, 16, 8, 4, 2, 1 for this model (input pixels per map cell) for mapStride but received 12');
  }, 120_000);

  test('--refine segments on the 8-px map: the masks follow the drawing\'s regions, well above plain cam', async () => {
    const [plain, regions] = await Promise.all([[], ['--map-stride', '8', '--refine', 'segments']].map((extra) => cli(['maps-eval', data, '--format', 'json', ...extra])));
    for (const r of [plain!, regions!]) expect(r.code, r.stderr).toBe(0);
    const [p, g] = [plain!, regions!].map((r) => JSON.parse(r.stdout) as Report & { mapStride: number | null });
    expect([g!.method, g!.refine, g!.mapStride]).toEqual(['cam', 'segments', 8]);
    // on 2,000 held-out images: mIoU 22.1 % plain, 42.2 % here; hair colours 27–34 % → 60–71 %
    expect(g!.mIoU).toBeGreaterThan(p!.mIoU + 0.08);
    expect(g!.pointing).toBeGreaterThan(0.6);
    const table = await cli(['maps-eval', data, '--map-stride', '8', '--refine', 'segments', '--tags', 'long_hair']);
    expect(table.stdout.trim().split('\n').at(-1)).toMatch(/^method cam \(8-px map, segments\)\s+images \d+/);
  }, 120_000);

  test('--ceiling scores the masks on a coarse grid: finer cells, higher ceiling', async () => {
    const at = async (cell: string) => {
      const r = await cli(['maps-eval', data, '--ceiling', cell, '--format', 'json']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as Report & { ceiling: number };
    };
    const [coarse, fine] = [await at('32'), await at('8')];
    expect([coarse.ceiling, coarse.method]).toEqual([32, undefined]);
    // on 2,000 held-out images: 47.2 % at 32-px cells, 76.2 % at 8
    expect(coarse.mIoU).toBeGreaterThan(0.35);
    expect(coarse.mIoU).toBeLessThan(0.6);
    expect(fine.mIoU).toBeGreaterThan(coarse.mIoU + 0.15);
    expect(coarse.pointing).toBeGreaterThan(0.9);
    // the CLI prints what the library function computes
    const library = await evaluateMaps(DEFAULT_MODEL_DIR, data, { ceiling: 32 });
    expect([library.images, library.mIoU, library.pointing, library.perTag.length]).toEqual([coarse.images, coarse.mIoU, coarse.pointing, coarse.perTag.length]);
    const zero = await cli(['maps-eval', data, '--ceiling', '0']);
    expect(zero.stderr).toMatch('for --ceiling but received "0"');
  });

  test('bad options and data without masks are refused, naming what was expected', async () => {
    const method = await cli(['maps-eval', data, '--method', 'lime']);
    expect([method.code, method.stderr]).toEqual([2, 'tagbooru maps-eval: Expected one of cam, gradcam, scorecam, saliency for --method but received "lime"\n']);
    const refine = await cli(['maps-eval', data, '--refine', 'crf']);
    expect(refine.stderr).toMatch('Expected one of none, guided, segments for --refine but received "crf"');
    const none = await cli(['maps-eval', bare]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch('has no ground-truth masks for localisable tags of this model');
    const missing = await cli(['maps-eval', path.join(dir, 'nowhere')]);
    expect(missing.stderr).toMatch('does not exist');
  });
});
