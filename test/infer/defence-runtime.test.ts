/**
 * Defences in the runtime, on a real ONNX Runtime session of a tiny bundle: the library option, tagger.json's
 * `defence`, `tag --defence`, `--defence none`, and `/v1/tag` over HTTP. A mid-grey image under 1-bit depth
 * reduction is black, so each defended answer must equal the undefended answer for a black image.
 */
import fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../src/server/app.ts';
import { createTagger } from '../../src/tagger.ts';
import type { TaggerOptions } from '../../src/infer/tagger.ts';
import { cli } from '../helpers/cli.ts';
import { solidImage } from '../helpers/images.ts';
import { TAGS, makeBundle, multipart } from '../server/_fixtures.ts';

let dir: string, bundle: string, defended: string, grey: string, black: string;
/** Undefended scores of the grey and the black image. */
let plainGrey: Float32Array, plainBlack: Float32Array;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-defences-'));
  bundle = await makeBundle(dir);
  defended = path.join(dir, 'defended');
  await fs.cp(bundle, defended, { recursive: true });
  const file = path.join(defended, 'tagger.json');
  await fs.writeFile(file, JSON.stringify({ ...JSON.parse(await fs.readFile(file, 'utf8')), defence: 'bit-depth:bits=1' }));
  grey = await solidImage(path.join(dir, 'grey.png'), 64, 64, [77, 77, 77]);
  black = await solidImage(path.join(dir, 'black.png'), 64, 64, [0, 0, 0]);
  [plainGrey, plainBlack] = (await scores(bundle, [grey, black])) as [Float32Array, Float32Array];
}, 60_000);

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** One tagger, each image's scores in order. */
async function scores(model: string, images: string[], options: TaggerOptions = {}): Promise<Float32Array[]> {
  const tagger = await createTagger(model, { threads: 1, ...options });
  try {
    return (await tagger.tag(images, { scores: true })).map((r) => r.scores!);
  } finally {
    await tagger.close();
  }
}

describe('a defence in the tagger', () => {
  test('the option and the bundle\'s defence feed the model the defended image; none is the plain path, bit for bit', async () => {
    expect(plainGrey).not.toEqual(plainBlack); // the model tells the two apart: the test can fail
    expect(await scores(bundle, [grey], { defence: 'bit-depth:bits=1' })).toEqual([plainBlack]);
    expect(await scores(defended, [grey])).toEqual([plainBlack]);
    expect(await scores(defended, [grey], { defence: 'none' })).toEqual([plainGrey]);
  }, 60_000);

  test('a randomised defence repeats itself under a seed and draws afresh without one', async () => {
    const noisy = { defence: 'noise:sigma=0.2' };
    const [a, b] = await scores(bundle, [grey, grey], { ...noisy, defenceSeed: 5 });
    expect(a).toEqual(b);
    const [c, d] = await scores(bundle, [grey, grey], noisy);
    expect(c).not.toEqual(d);
    expect(c).not.toEqual(plainGrey);
  }, 60_000);

  test('a bad spec in tagger.json or the option is a usage error naming it', async () => {
    await expect(createTagger(bundle, { defence: 'median:size=6' })).rejects.toThrow('Expected an odd integer between 3 and 15 (window side in pixels) for median:size for defence but received "6"');
    const bad = path.join(dir, 'bad');
    await fs.cp(bundle, bad, { recursive: true });
    const file = path.join(bad, 'tagger.json');
    await fs.writeFile(file, JSON.stringify({ ...JSON.parse(await fs.readFile(file, 'utf8')), defence: 7 }));
    await expect(createTagger(bad)).rejects.toThrow('defence must be a defence spec such as "jpeg:quality=75"');
  }, 60_000);
});

describe('tag --defence', () => {
  const tagJson = async (args: string[]) => {
    const r = await cli(['tag', ...args, '--threshold', '0', '--threads', '1', '-f', 'json']);
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as unknown[];
  };

  test('overrides the bundle; none turns the bundle\'s off', async () => {
    const strip = (rows: unknown[]) => rows.map((r) => ({ ...(r as object), file: '' }));
    const [grey0, black0] = strip(await tagJson([grey, black, '-m', bundle]));
    expect(grey0).not.toEqual(black0);
    expect(strip(await tagJson([grey, '-m', bundle, '--defence', 'bit-depth:bits=1']))).toEqual([black0]);
    expect(strip(await tagJson([grey, '-m', defended, '--defence', 'none']))).toEqual([grey0]);
  }, 60_000);

  test('evaluate takes it too', async () => {
    const lines = async (args: string[]) => {
      const r = await cli(['evaluate', ...args, '-m', bundle, '--threshold', '0']);
      expect(r.code).toBe(0);
      return r.stdout.split('\n').filter((l) => !l.startsWith('Tags of'));
    };
    const [plain, defendedRun] = [await lines([black]), await lines([grey, '--defence', 'bit-depth:bits=1'])];
    expect(plain.filter((l) => l.trim() !== '').length).toBe(TAGS.length);
    expect(defendedRun).toEqual(plain);
  }, 30_000);

  test('a bad spec exits 2 naming the defence and the valid range', async () => {
    const r = await cli(['tag', grey, '-m', bundle, '--defence', 'jpeg:quality=0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Expected an integer between 1 and 100 for defence jpeg:quality but received "0"');
    const s = await cli(['tag', grey, '-m', bundle, '--defence-seed', '-1']);
    expect(s.code).toBe(2);
    expect(s.stderr).toContain('--defence-seed');
  }, 30_000);
});

describe('serve --defence', () => {
  test('/v1/tag applies the defence in the preparation workers', async () => {
    const app = await buildApp({ model: bundle, prepWorkers: 1, workers: 1, threads: 1, defence: 'bit-depth:bits=1' });
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const { payload, headers } = multipart([{ name: 'file', value: await fs.readFile(grey), filename: 'grey.png', type: 'image/png' }, { name: 'floor', value: '0' }]);
      const r = await fetch(`${url}/v1/tag`, { method: 'POST', body: payload, headers });
      expect(r.status).toBe(200);
      const body = (await r.json()) as { results: { scores: { name: string; score: number }[] }[] };
      const want = plainBlack;
      const got = body.results[0]!.scores;
      expect(got).toHaveLength(TAGS.length);
      for (const s of got) expect(Math.fround(s.score)).toBe(want[TAGS.findIndex((t) => t.name === s.name)]);
    } finally {
      await app.close();
    }
  }, 60_000);

  test('a bad spec stops the server from starting', async () => {
    await expect(buildApp({ model: bundle, prepWorkers: 1, defence: 'sharpen' })).rejects.toThrow('Expected a defence among jpeg, bit-depth, median, noise, resize-pad, denoiser, none (chain them with +) for --defence but received "sharpen"');
  }, 30_000);
});
