/**
 * Decompression by the request: sixteen 7000×7000 PNGs are 2.3 MB on the wire and 784 million pixels decoded.
 * `tagbooru serve` runs as a child process on 127.0.0.1 with the bundled model, and its peak resident memory
 * (VmHWM in /proc) is read before and after: the request must be refused, by its headers' pixel count, or
 * served, without the server's peak growing by more than BOUND_MB.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startServer, type Server } from '../../bench/_load.ts';
import { noiseImage, solidImage } from '../helpers/images.ts';
import { multipart, type Part } from './_fixtures.ts';

const BOUND_MB = 600;
const SIDE = 7000;

let dir: string, server: Server | undefined, huge: Buffer, small: Buffer;

/** Peak resident memory of a live process, in MiB. */
const peakMb = (pid: number) => Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

const tag = async (files: Buffer[]) => {
  const parts: Part[] = files.map((value, i) => ({ name: 'file', value, filename: `${i}.png`, type: 'image/png' }));
  const { payload, headers } = multipart(parts);
  const r = await fetch(`${server!.url}/v1/tag`, { method: 'POST', body: payload, headers });
  return { status: r.status, body: (await r.json()) as { error?: string; message?: string; results?: unknown[] } };
};

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-memory-'));
  huge = await fs.readFile(await solidImage(path.join(dir, 'huge.png'), SIDE, SIDE, [200, 30, 90]));
  small = await fs.readFile(await noiseImage(path.join(dir, 'small.png'), 300, 200, 5));
  server = await startServer(['--model', 'models/default', '--prep-workers', '2'], { quickStart: true });
  expect((await tag([small])).status).toBe(200); // warm: workers, ONNX Runtime's first run
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

test(`sixteen ${SIDE}² PNGs in one request: refused by their declared pixels, peak memory within ${BOUND_MB} MB`, async () => {
  expect(huge.length).toBeLessThan(1 << 20); // tiny on the wire
  const before = peakMb(server!.child.pid!);
  const r = await tag(Array.from({ length: 16 }, () => huge));
  const growth = peakMb(server!.child.pid!) - before;
  console.log(`memory test: 16×${SIDE}² → ${r.status}; peak RSS ${before.toFixed(0)} MB → +${growth.toFixed(0)} MB`);
  expect(r.status).toBe(413);
  expect(r.body).toEqual({ error: 'E_TOO_LARGE', message: 'the images declare 784,000,000 pixels together, above the limit of 200,000,000 pixels per request (--max-pixels-per-request)' });
  expect(growth).toBeLessThan(BOUND_MB);
  // the server is no worse for it
  expect((await tag([small])).status).toBe(200);
}, 120_000);

test(`two ${SIDE}² PNGs (within the per-request limit) are served, peak memory within ${BOUND_MB} MB`, async () => {
  const before = peakMb(server!.child.pid!);
  const r = await tag([huge, huge]);
  const growth = peakMb(server!.child.pid!) - before;
  console.log(`memory test: 2×${SIDE}² → ${r.status}; peak RSS ${before.toFixed(0)} MB → +${growth.toFixed(0)} MB`);
  expect(r.status).toBe(200);
  expect(r.body.results).toHaveLength(2);
  expect(growth).toBeLessThan(BOUND_MB);
  const health = (await (await fetch(`${server!.url}/healthz`)).json()) as { pixelsReserved: number };
  expect(health.pixelsReserved).toBe(0); // every image's share given back
}, 120_000);
