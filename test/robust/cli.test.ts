import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cli } from '../helpers/cli.ts';

const BUNDLE = 'models/default';
const IMAGE = 'samples/heldout-1000002.png';
let dir: string;
beforeAll(async () => (dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-attack-'))));
afterAll(async () => fs.rm(dir, { recursive: true, force: true }));

const attack = (...args: string[]) => cli(['attack', BUNDLE, IMAGE, '--out', path.join(dir, 'out'), ...args]);

describe('tagbooru attack: usage errors (exit 2) name the flag, the range and what arrived', () => {
  test('a tag the model does not have, with the closest ones', async () => {
    const r = await attack('--goal', 'hide:long_hiar');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('for goal but received "hide:long_hiar"');
    expect(r.stderr).toContain('did you mean hide:long_hair');
  });
  test('ε out of range, and not a number', async () => {
    for (const eps of ['2', '0', '-1/255', 'four']) {
      const r = await attack('--goal', 'hide:solo', `--eps=${eps}`);
      expect(r.code, eps).toBe(2);
      expect(r.stderr).toContain(`for --eps but received "${eps}"`);
      expect(r.stderr).toContain('a number or a fraction like 4/255 in (0, 1]');
    }
  });
  test('an unknown goal, norm or method', async () => {
    expect((await attack('--goal', 'steal:solo')).stderr).toContain('Expected hide:<tag>, add:<tag>, hide-all or untargeted for goal but received "steal:solo"');
    const norm = await attack('--goal', 'hide:solo', '--norm', 'l3');
    expect([norm.code, norm.stderr.includes('Expected one of linf, l2 for --norm but received "l3"')]).toEqual([2, true]);
    expect((await attack('--goal', 'hide:solo', '--method', 'fgsm')).code).toBe(2);
    expect((await attack('--goal', 'hide:solo', '--method', 'square', '--norm', 'l2')).stderr).toContain('the Square attack here is L∞');
  });
  test('--bpda and --eot without a defence; an unknown defence', async () => {
    expect((await attack('--goal', 'hide:solo', '--bpda')).stderr).toContain('name one with --defence');
    expect((await attack('--goal', 'hide:solo', '--eot', '4')).stderr).toContain('add --bpda');
    expect((await attack('--goal', 'hide:solo', '--defence', 'jpg')).code).toBe(2);
  });
  test('a bundle without training weights refuses gradient methods and points to square', async () => {
    const bare = path.join(dir, 'bare');
    await fs.mkdir(bare, { recursive: true });
    const manifest = JSON.parse(await fs.readFile(path.join(BUNDLE, 'tagger.json'), 'utf8')) as Record<string, unknown>;
    delete manifest.weights;
    delete manifest.ood;
    await fs.writeFile(path.join(bare, 'tagger.json'), JSON.stringify(manifest));
    await fs.copyFile(path.join(BUNDLE, 'model.onnx'), path.join(bare, 'model.onnx'));
    const r = await cli(['attack', bare, IMAGE, '--goal', 'hide:solo', '--out', path.join(dir, 'bare-out')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('has no training weights');
    expect(r.stderr).toContain('use --method square');
    const sq = await cli(['attack', bare, IMAGE, '--goal', 'untargeted', '--method', 'square', '--steps', '20', '--eps', '8/255', '--threads', '1', '--out', path.join(dir, 'bare-out')]);
    expect(sq.code, sq.stderr).toBe(0);
    const report = JSON.parse(await fs.readFile(path.join(dir, 'bare-out', 'heldout-1000002.json'), 'utf8')) as { model: { queries: number; linf: number } };
    expect(report.model.queries).toBeGreaterThan(0);
    expect(report.model.linf).toBeLessThanOrEqual(8 + 1e-3);
  });
});

describe('tagbooru attack on the default model', () => {
  test('hide a selected tag: the PNG at full size, the report, the summary', async () => {
    const out = path.join(dir, 'run');
    const r = await cli(['attack', BUNDLE, IMAGE, '--goal', 'hide:long_hair', '--steps', '20', '--threads', '1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(await fs.readFile(path.join(out, 'heldout-1000002.json'), 'utf8')) as {
      applies: boolean; before: { name: string }[]; model: { success: boolean; linf: number; after: { name: string }[] }; fullSize: { linf: number; width: number };
    };
    expect(report.applies).toBe(true);
    expect(report.before.map((t) => t.name)).toContain('long_hair');
    expect(report.model.success).toBe(true);
    expect(report.model.after.map((t) => t.name)).not.toContain('long_hair');
    expect(report.model.linf).toBeLessThanOrEqual(4 + 1e-3);
    // bilinear upsampling keeps |δ| ≤ ε; rounding to bytes adds at most half a level
    expect(report.fullSize.linf).toBeLessThanOrEqual(4.5);
    const summary = JSON.parse(await fs.readFile(path.join(out, 'summary.json'), 'utf8')) as { attacked: number; successRate: number; mode: string };
    expect(summary).toMatchObject({ attacked: 1, successRate: 1, mode: 'undefended' });
    const png = await fs.readFile(path.join(out, 'heldout-1000002.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
  });
});
