/**
 * Load generation against `tagbooru serve`, and the CLI run it is compared with, shared by bench/serve-bench.ts
 * and the bounded load test in test/server/load.test.ts. Both programs run as child processes with the same
 * environment; the load comes from this process over 127.0.0.1 with keep-alive connections.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
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

/** CPU seconds (user + system, every thread) a live process has used so far, from /proc; NaN elsewhere. */
export function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

export interface Server {
  readonly url: string;
  readonly child: ChildProcess;
  /** CPU seconds the server process has used so far. */
  cpu(): number;
  /** SIGTERM, then the exit code and everything the server wrote on stderr. */
  stop(): Promise<{ code: number | null; stderr: string }>;
}

/** The serve command alone (bench/_serve.ts): the same server, without loading every other command first. */
const SERVE_ONLY = [path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs'), path.join(ROOT, 'bench', '_serve.ts')] as const;

/** `tagbooru serve` on a free port of 127.0.0.1; `quickStart` runs the serve command without the CLI's table. */
export function startServer(args: readonly string[], o: { env?: NodeJS.ProcessEnv; quickStart?: boolean } = {}): Promise<Server> {
  const entry = o.quickStart ? ['--import', SERVE_ONLY[0], SERVE_ONLY[1]] : [BIN, 'serve'];
  const child = spawn(process.execPath, [...entry, '--port', '0', '--host', '127.0.0.1', ...args], { env: { ...process.env, ...MALLOC_ENV, ...o.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start in 60 s:\n${stderr}`)), 60_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1]!,
          child,
          cpu: () => cpuSeconds(child.pid!),
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
  /** CPU seconds this process (the load generator) spent. */
  readonly clientCpuS: number;
}

/** A multipart body with one `file` part, encoded once: the client should cost the machine little. */
function body(image: Uint8Array, name: string): { payload: Buffer; type: string } {
  const boundary = `----tagbooru-load-${name.length}`;
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: image/jpeg\r\n\r\n`;
  return { payload: Buffer.concat([Buffer.from(head), image, Buffer.from(`\r\n--${boundary}--\r\n`)]), type: `multipart/form-data; boundary=${boundary}` };
}

function post(agent: http.Agent, url: URL, b: { payload: Buffer; type: string }): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'POST', agent, headers: { 'content-type': b.type, 'content-length': b.payload.length } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(b.payload);
  });
}

/** `requests` POSTs of one image each to `/v1/tag`, `concurrency` at a time over keep-alive connections, images in turn. */
export async function load(url: string, images: readonly Uint8Array[], o: { requests: number; concurrency: number }): Promise<LoadResult> {
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  const errors: string[] = [];
  const bodies = images.map((image, i) => body(image, `image-${i}.jpg`));
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const target = new URL('/v1/tag', url);
  let next = 0;
  const worker = async () => {
    while (next < o.requests) {
      const i = next++;
      const t = performance.now();
      try {
        const r = await post(agent, target, bodies[i % bodies.length]!);
        latencies.push(performance.now() - t);
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        const parsed = JSON.parse(r.text) as { results?: { error: string | null }[]; message?: string };
        if (r.status !== 200 || parsed.results?.[0]?.error) errors.push(`${r.status} ${parsed.message ?? parsed.results?.[0]?.error}`);
      } catch (e) {
        errors.push(String(e));
      }
    }
  };
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const wallS = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  agent.destroy();
  return { requests: o.requests, concurrency: o.concurrency, latencies, wallS, statuses, errors, imagesPerS: o.requests / wallS, clientCpuS: (c.user + c.system) / 1e6 };
}

export interface CliResult {
  readonly images: number;
  readonly wallS: number;
  /** Images/s once the first batch is out: no process start or model load in it. */
  readonly steadyImagesPerS: number;
  /** CPU milliseconds per image over the same stretch (every thread of the process, from /proc). */
  readonly steadyCpuMsPerImage: number;
  readonly code: number | null;
}

/** `tagbooru tag <dir> --format jsonl`, each stdout line timestamped (and the process's CPU read) as it arrives. */
export function cliRun(bundle: string, dir: string, o: { batch: number; threads?: number }): Promise<CliResult> {
  const args = [BIN, 'tag', dir, '--model', bundle, '--format', 'jsonl', '--batch-size', String(o.batch), ...(o.threads ? ['--threads', String(o.threads)] : [])];
  const child = spawn(process.execPath, args, { env: { ...process.env, ...MALLOC_ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
  const stamps: number[] = [];
  let buffered = '', stderr = '', cpuFirst = NaN, cpuLast = NaN;
  const t0 = performance.now();
  child.stdout.on('data', (d: Buffer) => {
    const now = performance.now();
    buffered += d.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    const before = stamps.length;
    for (const _ of lines) stamps.push(now);
    if (before < o.batch && stamps.length >= o.batch) cpuFirst = cpuSeconds(child.pid!);
    cpuLast = cpuSeconds(child.pid!);
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`tag exited with ${code}: ${stderr}`));
      const wallS = (performance.now() - t0) / 1000;
      const first = Math.min(o.batch, stamps.length);
      const steadyImages = stamps.length - first;
      resolve({
        images: stamps.length,
        wallS,
        steadyImagesPerS: steadyImages / ((stamps.at(-1)! - stamps[first - 1]!) / 1000),
        steadyCpuMsPerImage: (1000 * (cpuLast - cpuFirst)) / steadyImages,
        code,
      });
    });
  });
}
