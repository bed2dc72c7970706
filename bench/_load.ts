/**
 * Load generation against `tagbooru serve`, and the CLI run it is compared with, shared by bench/serve-bench.ts
 * and the bounded load test in test/server/load.test.ts. Both programs run as child processes with the same
 * environment; the load comes from this process over 127.0.0.1 with keep-alive connections.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = path.join(ROOT, 'bin', 'tagbooru.js');
/** reference/dependencies.md §B: without these, first-touch page faults dominate ORT's timings here. */
export const MALLOC_ENV = { MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '4294967296' };

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export interface Server {
  readonly url: string;
  readonly child: ChildProcess;
  /** SIGTERM, then the exit code and everything the server wrote on stderr. */
  stop(): Promise<{ code: number | null; stderr: string }>;
}

export function startServer(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Server> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', ...args], { env: { ...process.env, ...MALLOC_ENV, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start in 60 s:\n${stderr}`)), 60_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1]!,
          child,
          async stop() {
            child.kill('SIGTERM');
            return { code: await exited, stderr };
          },
        });
      }
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code}:\n${stderr}`)));
  });
}

export interface LoadResult {
  readonly requests: number;
  readonly concurrency: number;
  /** Milliseconds, one per request. */
  readonly latencies: number[];
  readonly wallS: number;
  readonly statuses: Record<number, number>;
  readonly errors: string[];
  readonly imagesPerS: number;
}

/** `requests` POSTs of one image each to `/v1/tag`, `concurrency` at a time, images taken in turn. */
export async function load(url: string, images: readonly Uint8Array[], o: { requests: number; concurrency: number }): Promise<LoadResult> {
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  const errors: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < o.requests) {
      const i = next++;
      const form = new FormData();
      form.append('file', new Blob([images[i % images.length]!], { type: 'image/jpeg' }), `image-${i}.jpg`);
      const t = performance.now();
      try {
        const r = await fetch(`${url}/v1/tag`, { method: 'POST', body: form });
        const body = (await r.json()) as { results?: { error: string | null }[]; message?: string };
        latencies.push(performance.now() - t);
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        if (r.status !== 200 || body.results?.[0]?.error) errors.push(`${r.status} ${body.message ?? body.results?.[0]?.error}`);
      } catch (e) {
        errors.push(String(e));
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const wallS = (performance.now() - t0) / 1000;
  return { requests: o.requests, concurrency: o.concurrency, latencies, wallS, statuses, errors, imagesPerS: o.requests / wallS };
}

export interface CliResult {
  readonly images: number;
  readonly wallS: number;
  /** Images/s once the first batch is out: no process start or model load in it. */
  readonly steadyImagesPerS: number;
  readonly code: number | null;
}

/** `tagbooru tag <dir> --format jsonl`, each stdout line timestamped as it arrives. */
export function cliRun(bundle: string, dir: string, o: { batch: number; threads?: number }): Promise<CliResult> {
  const args = [BIN, 'tag', dir, '--model', bundle, '--format', 'jsonl', '--batch-size', String(o.batch), ...(o.threads ? ['--threads', String(o.threads)] : [])];
  const child = spawn(process.execPath, args, { env: { ...process.env, ...MALLOC_ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
  const stamps: number[] = [];
  let buffered = '', stderr = '';
  const t0 = performance.now();
  child.stdout.on('data', (d: Buffer) => {
    const now = performance.now();
    buffered += d.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const _ of lines) stamps.push(now);
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`tag exited with ${code}: ${stderr}`));
      const wallS = (performance.now() - t0) / 1000;
      const first = stamps[Math.min(o.batch, stamps.length) - 1]!;
      const steady = (stamps.length - Math.min(o.batch, stamps.length)) / ((stamps.at(-1)! - first) / 1000);
      resolve({ images: stamps.length, wallS, steadyImagesPerS: steady, code });
    });
  });
}
