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
import { load, percentile, startServer, type Server } from '../../bench/_load.ts';
import { createTagger } from '../../src/index.ts';
import { noiseImage } from '../helpers/images.ts';
import { makeBundle } from './_fixtures.ts';

const REQUESTS = 500;
const CONCURRENCY = 16;
/** The CLI's steady rate needs fewer images to measure. */
const CLI_IMAGES = 200;

let dir: string, bundle: string, server: Server | undefined;
const images: Buffer[] = [];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-load-'));
  bundle = await makeBundle(dir);
  const folder = path.join(dir, 'images');
  await fs.mkdir(folder);
  for (let i = 0; i < 8; i++) images.push(await fs.readFile(await noiseImage(path.join(dir, `src-${i}.jpg`), 64 + 4 * i, 80 - 2 * i, i + 1)));
  // the CLI tags the same bytes
  await Promise.all(Array.from({ length: CLI_IMAGES }, (_, i) => fs.writeFile(path.join(folder, `${String(i).padStart(4, '0')}.jpg`), images[i % images.length]!)));
});

afterAll(async () => {
  if (server) await server.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

test(`${REQUESTS} requests, ${CONCURRENCY} concurrent: no errors; latency and images/s against the CLI`, async () => {
  server = await startServer(['--model', bundle, '--max-batch', '16'], { quickStart: true });
  await load(server.url, images, { requests: 32, concurrency: CONCURRENCY }); // warm-up: JIT, first ORT runs
  const cpu0 = server.cpu();
  const r = await load(server.url, images, { requests: REQUESTS, concurrency: CONCURRENCY });
  const serverCpu = server.cpu() - cpu0;
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  const stopped = await server.stop();
  server = undefined;
  const cli = await cliPipeline(path.join(dir, 'images'));

  const p50 = percentile(r.latencies, 50), p95 = percentile(r.latencies, 95);
  const calls = Number(/^tagbooru_batch_size_count (\d+)$/m.exec(metrics)?.[1]);
  const summary = {
    requests: REQUESTS, concurrency: CONCURRENCY, p50_ms: +p50.toFixed(1), p95_ms: +p95.toFixed(1), server_images_per_s: +r.imagesPerS.toFixed(0),
    cli_images_per_s: +cli.imagesPerS.toFixed(0), server_vs_cli: +(r.imagesPerS / cli.imagesPerS).toFixed(2), mean_batch: +((REQUESTS + 32) / calls).toFixed(1),
    // CPU per image holds up on a busy machine where rates do not: the server process, and the load client beside it
    cpu_ms_per_image: { server: +((1000 * serverCpu) / REQUESTS).toFixed(2), client: +((1000 * r.clientCpuS) / REQUESTS).toFixed(2) },
  };
  console.log(`load test (tiny model): ${JSON.stringify(summary)}`);
  await fs.mkdir('test/out', { recursive: true });
  await fs.writeFile('test/out/load.json', `${JSON.stringify(summary, null, 1)}\n`);

  expect(r.errors).toEqual([]);
  expect(r.statuses).toEqual({ 200: REQUESTS });
  expect(cli.images).toBe(CLI_IMAGES);
  expect(cli.errors).toBe(0);
  expect(calls).toBeLessThan(REQUESTS + 32); // concurrent requests were batched together
  expect(p95).toBeLessThan(10_000);
  // SIGTERM closes the server cleanly
  expect(stopped.code).toBe(0);
  expect(stopped.stderr).toMatch(/tagbooru serve: stopped/);
}, 90_000);

/** The pipeline `tagbooru tag --batch-size 16` runs, timed from its first batch's results to the last: steady images/s. */
async function cliPipeline(folder: string): Promise<{ images: number; errors: number; imagesPerS: number }> {
  const files = (await fs.readdir(folder)).sort().map((f) => path.join(folder, f));
  const tagger = await createTagger(bundle);
  try {
    let images = 0, errors = 0, first = 0;
    for await (const r of tagger.stream(files, { batchSize: 16 })) {
      if (++images === 16) first = performance.now();
      if (r.error !== null) errors++;
    }
    return { images, errors, imagesPerS: (images - 16) / ((performance.now() - first) / 1000) };
  } finally {
    await tagger.close();
  }
}
