import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { decodeImage, preprocess, resolvePreset, type TagbooruError } from '../../src/index.ts';
import { PrepPool } from '../../src/server/prep-pool.ts';
import { liveWorkers } from '../../src/workers/client.ts';
import { KILLS, killMidCall } from '../helpers/workers.ts';
import { noiseImage, pngHeaderOnly } from '../helpers/images.ts';

const spec = resolvePreset('deepdanbooru', { width: 64, height: 64 });
let dir: string, pool: PrepPool, png: Buffer;
const live = new AbortController().signal;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-prep-'));
  png = await fs.readFile(await noiseImage(path.join(dir, 'a.png'), 90, 70, 4));
  pool = await PrepPool.start(2, [{ name: 'input', preprocess: spec }], 1_000_000);
});

afterAll(async () => {
  await pool?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

test('a tensor equal to decode → preprocess on the main thread; a reason for what is not an image', async () => {
  const [tensor, text, bomb] = await pool.prepare([png, Buffer.from('not an image'), pngHeaderOnly(2000, 1000)], live);
  expect(tensor).toEqual({ tensor: preprocess(await decodeImage(png), spec), mediaType: 'image/png' });
  expect(text).toBe('not a recognised image format');
  expect(bomb).toBe('2000×1000 pixels exceeds the pixel limit of 1000000');
});

const prepWorkers = () => liveWorkers().filter((w) => w.spec.name === 'an image preparation worker');

test.each(KILLS)('a worker killed by %s mid-call fails only its own images with E_WORKER, at once, and is replaced', async (_, kill) => {
  await expect.poll(() => prepWorkers().length, { timeout: 20_000 }).toBe(2);
  const respawns = pool.respawns;
  const outcomes: string[] = [];
  // six images, three for each worker: the killed one's fail, the other's are tagged
  await killMidCall('an image preparation worker', () => Promise.all(Array.from({ length: 6 }, () => pool.prepare([png], live).then(
    () => void outcomes.push('ok'),
    (e: TagbooruError) => (outcomes.push(`${e.code} ${e.message}`), Promise.reject(e)),
  ))), kill);
  await expect.poll(() => outcomes.length, { timeout: 20_000 }).toBe(6);
  expect(outcomes.filter((o) => o === 'ok').length).toBeGreaterThanOrEqual(3);
  for (const o of outcomes) {
    expect(o).toMatch(/^(ok|E_WORKER an image preparation worker stopped \(exit code 1\) with [1-4] requests? unanswered; a new one is starting: send the image again)$/);
  }
  await expect.poll(() => pool.respawns, { timeout: 20_000 }).toBe(respawns + 1);
  expect((await pool.prepare([png], live))[0]).toMatchObject({ tensor: expect.any(Float32Array) as unknown });
});

test('an abort drops the images still waiting at once; every image is settled exactly once', async () => {
  await expect.poll(() => prepWorkers().length, { timeout: 20_000 }).toBe(2);
  const controller = new AbortController();
  const settled: number[] = [];
  const images = 12; // two workers take four each; four wait
  const done = pool.prepare(Array.from({ length: images }, () => png), controller.signal, (i) => settled.push(i));
  controller.abort(new Error('gone'));
  await expect(done).rejects.toThrow('gone');
  expect(settled).toEqual([8, 9, 10, 11]); // the waiting ones, without a decode
  await expect.poll(() => settled.length, { timeout: 20_000 }).toBe(images); // the started ones as they finish
  expect(new Set(settled).size).toBe(images);
  expect(pool.depth).toBe(0);
});
