/**
 * Zips as imports meet them: only the entries an importer reads are extracted, within a size limit checked
 * on the central directory and on the inflated bytes; zip bombs, lying sizes and repeated entries are
 * refused with a message naming them; staging folders of killed imports are removed, live ones kept.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importModel, listModels } from '../../src/import/index.ts';
import { exportInference } from '../../src/models/export.ts';
import { buildModel } from '../../src/models/registry.ts';
import { cli } from '../helpers/cli.ts';
import { randomWeights } from './_fixtures.ts';
import { writeZip, type ZipEntry } from './_zip.ts';

const MiB = 2 ** 20;
let tmp: string, home: string, model: Uint8Array;
const env = () => ({ TAGBOORU_HOME: home });
const TAGS = ['1girl', 'smile', 'rating:safe'];
const CSV = `tag_id,name,category,count\n${TAGS.map((t, i) => `${i},${t},${t.startsWith('rating:') ? 9 : 0},1`).join('\n')}\n`;
const storeEntries = async () => (await fs.readdir(path.join(home, 'models')).catch(() => [] as string[])).sort();

/** A WD-style release zip (model.onnx + selected_tags.csv) inside a folder, plus `extra` entries. */
function release(name: string, extra: ZipEntry[] = []): Promise<string> {
  return writeZip(path.join(tmp, name), [{ name: 'wd/model.onnx', data: model }, { name: 'wd/selected_tags.csv', data: CSV }, ...extra]);
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-archive-'));
  home = path.join(tmp, 'home');
  const spec = buildModel('test_tiny', { tags: TAGS.length, imageSize: [32, 32] });
  model = exportInference(spec, randomWeights(spec, 3));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('extraction', () => {
  it('extracts only what the importer reads: a 64 MiB entry of zeros beside the model is never inflated', async () => {
    // 64 MiB of zeros deflate to 64 KiB and claim 1 KiB: inflating them would fail the import, on the
    // declared sizes or on the bytes
    const zip = await release('padded.zip', [{ name: 'wd/padding.bin', data: new Uint8Array(64 * MiB), declaredSize: 1024 }, { name: 'wd/README.md', data: '# wd' }]);
    const r = await importModel(zip, { name: 'padded', maxExtractBytes: 8 * MiB }, env());
    expect(r.format).toBe('wd');
    expect(r.manifest.tags.map((t) => t.name)).toEqual(TAGS);
  });

  it('a zip of zeros named like the model is refused before a byte is written, naming the entry', async () => {
    const zip = await writeZip(path.join(tmp, 'zeros.zip'), [{ name: 'model.onnx', data: new Uint8Array(64 * MiB) }, { name: 'selected_tags.csv', data: CSV }]);
    expect((await fs.stat(zip)).size).toBeLessThan(MiB);
    const before = await storeEntries();
    const r = await cli(['import', zip], { env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/zeros\.zip: entry "model\.onnx" would expand \d+× \(64 MiB from \d+ bytes\), more than the 100× any model file compresses; refusing a zip bomb/);
    expect(await storeEntries()).toEqual(before);
  });

  it('the total-size limit is checked on the declared sizes, named in the message, and settable', async () => {
    const zip = await release('limited.zip');
    const r = await cli(['import', zip, '--max-extract', '0.001'], { env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/limited\.zip: extracting it would write [\d.]+ MiB, more than the limit of 0\.001 MiB; refusing \(raise it with --max-extract/);
    const bad = await cli(['import', zip, '--max-extract', '0'], { env: env() });
    expect(bad.stderr).toMatch(/Expected a number between 0\.001 and 1048576 for --max-extract but received "0"/);
  });

  it('sizes that lie are caught while inflating: a model declared as 1 KiB that inflates to 4 MiB', async () => {
    const zip = await writeZip(path.join(tmp, 'liar.zip'), [{ name: 'model.onnx', data: new Uint8Array(4 * MiB), declaredSize: 1024 }, { name: 'selected_tags.csv', data: CSV }]);
    const before = await storeEntries();
    await expect(importModel(zip, { name: 'liar', maxExtractBytes: 2 * MiB }, env())).rejects.toThrow(/liar\.zip .*too many bytes in the stream|liar\.zip: extracting it would write/);
    expect(await storeEntries()).toEqual(before);
  });

  it('an entry twice, or a file that is also a folder: the entry named, not EEXIST', async () => {
    const twice = await release('twice.zip', [{ name: 'wd/selected_tags.csv', data: CSV }]);
    await expect(importModel(twice, { name: 'twice' }, env())).rejects.toThrow('twice.zip has two entries named "wd/selected_tags.csv"; refusing to guess which one is meant');
    const clash = await release('clash.zip', [{ name: 'wd/model.onnx/x', data: 'x' }]);
    await expect(importModel(clash, { name: 'clash' }, env())).rejects.toThrow('clash.zip has an entry "wd/model.onnx" that is both a file and a folder of other entries');
  });
});

describe('staging folders', () => {
  /** A pid that was alive and is gone now. */
  async function deadPid(): Promise<number> {
    const child = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => child.on('exit', resolve));
    return child.pid!;
  }

  it('those of dead imports are removed when the store is opened; a live one, another host\'s, are kept', async () => {
    const root = path.join(home, 'models');
    await fs.mkdir(root, { recursive: true });
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
    try {
      const dead = await deadPid();
      const make = async (name: string, owner?: object) => {
        await fs.mkdir(path.join(root, name, 'work'), { recursive: true });
        await fs.writeFile(path.join(root, name, 'work', 'big.bin'), 'x');
        if (owner) await fs.writeFile(path.join(root, name, 'owner.json'), JSON.stringify(owner));
      };
      await make(`.staging-${dead}-aaaa`, { host: os.hostname(), pid: dead, started: null });
      await make(`.staging-${dead}-bbbb`); // killed before writing its owner file
      await make(`.staging-${sleeper.pid}-cccc`, { host: os.hostname(), pid: sleeper.pid, started: null });
      await make(`.staging-${dead}-dddd`, { host: 'another-host', pid: dead, started: null });
      // a live pid that now belongs to another process than the one that made the folder
      await make(`.staging-${process.pid}-eeee`, { host: os.hostname(), pid: process.pid, started: '1' });
      await listModels(env());
      const left = (await fs.readdir(root)).filter((n) => /^\.staging-\d+-[a-e]{4}$/.test(n)).sort();
      expect(left).toEqual([`.staging-${dead}-dddd`, `.staging-${sleeper.pid}-cccc`].sort());
    } finally {
      sleeper.kill();
    }
  });
});
