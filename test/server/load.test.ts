/**
 * A bounded load test of `tagbooru serve` on 127.0.0.1 (the long version is bench/serve-bench.ts): 500 requests,
 * 16 at a time, none may fail. Reports p50/p95 latency and images/s beside `tagbooru tag` on the same model and
 * images. The tiny test model makes inference nearly free, so this ratio is the worst case for HTTP overhead;
 * the benchmark measures it on a real-sized model.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { cliRun, load, percentile, startServer, type Server } from '../../bench/_load.ts';
import { noiseImage } from '../helpers/images.ts';
import { makeBundle } from './_fixtures.ts';

const REQUESTS = 500;
const CONCURRENCY = 16;

let dir: string, bundle: string, server: Server | undefined;
const images: Buffer[] = [];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-load-'));
  bundle = await makeBundle(dir);
  const folder = path.join(dir, 'images');
  await fs.mkdir(folder);
  for (let i = 0; i < 8; i++) images.push(await fs.readFile(await noiseImage(path.join(dir, `src-${i}.jpg`), 96 + 8 * i, 128 - 4 * i, i + 1)));
  // the CLI tags the same bytes, as many files as the server gets requests
  await Promise.all(Array.from({ length: REQUESTS }, (_, i) => fs.writeFile(path.join(folder, `${String(i).padStart(4, '0')}.jpg`), images[i % images.length]!)));
});

afterAll(async () => {
  if (server) await server.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

test(`${REQUESTS} requests, ${CONCURRENCY} concurrent: no errors; latency and images/s against the CLI`, async () => {
  server = await startServer(['--model', bundle, '--max-batch', '16']);
  await load(server.url, images, { requests: 32, concurrency: CONCURRENCY }); // warm-up: JIT, first ORT runs
  const r = await load(server.url, images, { requests: REQUESTS, concurrency: CONCURRENCY });
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  const stopped = await server.stop();
  server = undefined;
  const cli = await cliRun(bundle, path.join(dir, 'images'), { batch: 16 });

  const p50 = percentile(r.latencies, 50), p95 = percentile(r.latencies, 95);
  const calls = Number(/^tagbooru_batch_size_count (\d+)$/m.exec(metrics)?.[1]);
  const summary = {
    requests: REQUESTS, concurrency: CONCURRENCY, p50_ms: +p50.toFixed(1), p95_ms: +p95.toFixed(1), server_images_per_s: +r.imagesPerS.toFixed(0),
    cli_images_per_s: +cli.steadyImagesPerS.toFixed(0), server_vs_cli: +(r.imagesPerS / cli.steadyImagesPerS).toFixed(2), mean_batch: +((REQUESTS + 32) / calls).toFixed(1),
  };
  console.log(`load test (tiny model): ${JSON.stringify(summary)}`);
  await fs.mkdir('test/out', { recursive: true });
  await fs.writeFile('test/out/load.json', `${JSON.stringify(summary, null, 1)}\n`);

  expect(r.errors).toEqual([]);
  expect(r.statuses).toEqual({ 200: REQUESTS });
  expect(cli.images).toBe(REQUESTS);
  expect(calls).toBeLessThan(REQUESTS + 32); // concurrent requests were batched together
  expect(p95).toBeLessThan(5000);
  // SIGTERM closes the server cleanly
  expect(stopped.code).toBe(0);
  expect(stopped.stderr).toMatch(/tagbooru serve: stopped/);
}, 90_000);
