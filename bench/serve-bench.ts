/**
 * Serving benchmark: `tagbooru serve` under load against `tagbooru tag` on the same model, images and threads.
 *
 *   node --import tsx bench/serve-bench.ts [--arch resnet_custom_v4] [--size 512] [--tags 1000]
 *       [--requests 200] [--concurrency 16] [--images 16] [--max-batch 16] [--rounds 2]
 *
 * Both run as child processes with the malloc settings of reference/dependencies.md §B; the load comes from
 * this process over 127.0.0.1 (one image per POST /v1/tag, multipart, keep-alive). Rounds interleave server and
 * CLI so a busy machine slows both alike. Reported per round and as medians: latency p50/p95/p99, server
 * images/s, CLI images/s once its first batch is out ("steady": no start-up or model load in it), the server's
 * throughput overhead over the CLI, and CPU milliseconds per image (server process, CLI process, load client):
 * the CPU figures hold up on a shared machine where wall-clock rates do not. JSON in bench/out/serve-bench.json.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { BIN, MALLOC_ENV, cliRun, load, percentile, startServer } from './_load.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'bench', 'out', 'serve');
/** Shapes of photos, scans and screenshots. */
const SIZES: readonly (readonly [number, number])[] = [[800, 600], [1200, 1600], [1024, 768], [1280, 720], [600, 800], [1000, 1000]];

const { values: a } = parseArgs({
  options: {
    arch: { type: 'string', default: 'resnet_custom_v4' },
    size: { type: 'string', default: '512' },
    tags: { type: 'string', default: '1000' },
    requests: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '16' },
    images: { type: 'string', default: '16' },
    'max-batch': { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
  },
});
const n = (k: keyof typeof a) => Number(a[k]);
const requests = n('requests'), concurrency = n('concurrency'), maxBatch = n('max-batch');
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function bundle(): string {
  const dir = path.join(OUT, 'bundles', `${a.arch}-${a.size}-${a.tags}`);
  if (fs.existsSync(path.join(dir, 'tagger.json'))) return dir;
  console.error(`creating ${dir}…`);
  const r = spawnSync(process.execPath, [BIN, 'init-model', a.arch, '--tags', a.tags, '--image-size', a.size, '--out', dir], { stdio: 'inherit', env: { ...process.env, ...MALLOC_ENV } });
  if (r.status !== 0) throw new Error('init-model failed');
  return dir;
}

/** Smooth colour fields with grain: they compress and decode like photos, unlike pure noise. */
async function images(): Promise<{ buffers: Buffer[]; dir: string }> {
  const dir = path.join(OUT, `images-${requests}x${a.images}`);
  const buffers: Buffer[] = [];
  for (let i = 0; i < n('images'); i++) {
    const [w, h] = SIZES[i % SIZES.length]!;
    const grain = await sharp({ create: { width: w, height: h, channels: 3, background: { r: 40 + 13 * i, g: 200 - 9 * i, b: 90 + 5 * i }, noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).blur(6).jpeg({ quality: 88 }).toBuffer();
    buffers.push(grain);
  }
  if (!fs.existsSync(path.join(dir, `${String(requests - 1).padStart(5, '0')}.jpg`))) {
    fs.mkdirSync(dir, { recursive: true });
    for (let i = 0; i < requests; i++) fs.writeFileSync(path.join(dir, `${String(i).padStart(5, '0')}.jpg`), buffers[i % buffers.length]!);
  }
  return { buffers, dir };
}

interface Round {
  p50_ms: number; p95_ms: number; p99_ms: number; server_img_s: number; cli_img_s: number; cli_wall_img_s: number;
  overhead: number; server_cpu_ms_img: number; cli_cpu_ms_img: number; client_cpu_ms_img: number; mean_batch: number; errors: number;
}

async function round(model: string, buffers: Buffer[], dir: string): Promise<Round> {
  const server = await startServer(['--model', model, '--max-batch', String(maxBatch), '--queue', String(Math.max(64, concurrency * 2)), '--timeout', '600']);
  await load(server.url, buffers, { requests: Math.min(32, Math.max(concurrency, requests / 8)), concurrency });
  const before = server.cpu();
  const metricsBefore = await (await fetch(`${server.url}/metrics`)).text();
  const r = await load(server.url, buffers, { requests, concurrency });
  const serverCpu = server.cpu() - before;
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  await server.stop();
  const count = (text: string) => Number(/^tagbooru_batch_size_count (\d+)$/m.exec(text)?.[1]);
  const cli = await cliRun(model, dir, { batch: maxBatch });
  const ms = (s: number) => +((1000 * s) / requests).toFixed(1);
  return {
    p50_ms: +percentile(r.latencies, 50).toFixed(0), p95_ms: +percentile(r.latencies, 95).toFixed(0), p99_ms: +percentile(r.latencies, 99).toFixed(0),
    server_img_s: +r.imagesPerS.toFixed(2), cli_img_s: +cli.steadyImagesPerS.toFixed(2), cli_wall_img_s: +(cli.images / cli.wallS).toFixed(2),
    overhead: +(1 - r.imagesPerS / cli.steadyImagesPerS).toFixed(3),
    server_cpu_ms_img: ms(serverCpu), cli_cpu_ms_img: +cli.steadyCpuMsPerImage.toFixed(1), client_cpu_ms_img: ms(r.clientCpuS),
    mean_batch: +(requests / (count(metrics) - count(metricsBefore))).toFixed(1), errors: r.errors.length,
  };
}

const model = bundle();
const { buffers, dir } = await images();
console.error(`${a.arch} at ${a.size}px, ${a.tags} tags: ${requests} requests × ${concurrency} concurrent, max batch ${maxBatch}, ${n('rounds')} rounds`);
const rounds: Round[] = [];
for (let i = 0; i < n('rounds'); i++) {
  rounds.push(await round(model, buffers, dir));
  console.error(`round ${i + 1}: ${JSON.stringify(rounds.at(-1))}`);
}
const keys = Object.keys(rounds[0]!) as (keyof Round)[];
const summary = Object.fromEntries(keys.map((k) => [k, +median(rounds.map((r) => r[k])).toFixed(2)])) as unknown as Round;
// the overhead of the median rates, not the median of per-round overheads
summary.overhead = +(1 - summary.server_img_s / summary.cli_img_s).toFixed(3);
const header = ['model', 'p50 ms', 'p95 ms', 'server img/s', 'CLI img/s (steady)', 'throughput overhead', 'CPU ms/img server', 'CPU ms/img CLI (steady)', 'CPU overhead', 'client CPU ms/img', 'mean batch', 'errors'];
console.log(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
console.log(`| ${a.arch} ${a.size}px | ${summary.p50_ms} | ${summary.p95_ms} | ${summary.server_img_s} | ${summary.cli_img_s} | ${(100 * summary.overhead).toFixed(1)}% | ${summary.server_cpu_ms_img} | ${summary.cli_cpu_ms_img} | ${(100 * (summary.server_cpu_ms_img / summary.cli_cpu_ms_img - 1)).toFixed(1)}% | ${summary.client_cpu_ms_img} | ${summary.mean_batch} | ${summary.errors} |`);
fs.mkdirSync(path.join(ROOT, 'bench', 'out'), { recursive: true });
const file = path.join(ROOT, 'bench', 'out', 'serve-bench.json');
const previous = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as unknown[]) : [];
fs.writeFileSync(file, `${JSON.stringify([...previous, { date: new Date().toISOString(), args: a, rounds, summary }], null, 1)}\n`);
