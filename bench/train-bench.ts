/**
 * Training benchmark (issue 4, "Benchmark and targets"): training-step images/s and peak RSS of tagbooru's
 * one-graph-per-step ONNX Runtime trainer against Debian's PyTorch (bench/torch_train.py, NCHW and
 * channels_last) on the same architecture, batch and threads, interleaved in one run.
 *
 *   bash bench/train.sh                                   # both cases, 3 rounds (~10 min on 2 idle cores)
 *   bash bench/train.sh --cases a --rounds 2 --steps 8    # a quick run
 *   other flags: --runners ours,nchw,cl  --threads 2  --tags 1000  --warmup 3  --batch-b 16  --wait-quiet S
 *
 * Cases: (a) resnet_custom_narrow at 128², batch 32; (b) resnet_custom_v4_narrow at 224², batch 16. PyTorch
 * builds its model from the same filters/repeats table (RESNET_VARIANTS), passed on its command line.
 * Every measurement is its own child process started with MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_
 * (reference/dependencies.md §B). Ours runs through the real API: createTrainer (worker thread) and
 * trainer.step() on random NHWC batches; the step time is taken around `await trainer.step(...)`, batch
 * copies made beforehand. Each process reports the median step time after `warmup` steps, its peak RSS
 * (VmHWM, all threads) and how busy the rest of the machine was during its timed steps (others' CPU share,
 * from /proc/stat minus the process's own CPU time), because this VM is shared. The order of the runners
 * rotates every round. Ratio = ours img/s ÷ the faster PyTorch layout's img/s in the same round.
 * Results: a markdown table on stdout, everything in bench/out/train-bench.json.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { RESNET_VARIANTS, type ResNetName } from '../src/models/resnet.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'bench', 'out');
const PYTHON = '/usr/bin/python3';
const MALLOC_ENV = { MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '4294967296' };

interface Case {
  readonly id: string;
  readonly model: ResNetName;
  readonly size: number;
  readonly batch: number;
}

const RUNNERS = ['ours', 'nchw', 'cl'] as const;
type Runner = (typeof RUNNERS)[number];

/** What every child writes to its --result file. */
interface Measurement {
  readonly runner: Runner;
  readonly case: string;
  readonly round: number;
  readonly step_s: number[];
  /** CPU time of the whole process per step (all threads; includes spinning). */
  readonly cpu_s: number[];
  readonly warmup: number;
  readonly median_step_s: number;
  readonly img_per_s: number;
  readonly peak_rss_mb: number;
  /** Share of the machine's CPU time used by other processes during the timed steps (0–1). */
  readonly others_cpu: number;
  readonly setup_s?: number;
  readonly loss_first?: number;
  readonly loss_last?: number;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

// ───────────────────────────── machine load (shared by the ours-worker; torch_train.py does the same) ─────────────────────────────

function cpuSnapshot(): { busy: number; total: number; self: number } {
  const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = cpu[3]! + cpu[4]!; // idle + iowait
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0); // guest time is already in user
  const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return { busy: total - idle, total, self: Number(fields[11]) + Number(fields[12]) }; // utime + stime, in ticks
}

function othersShare(a: ReturnType<typeof cpuSnapshot>, b: ReturnType<typeof cpuSnapshot>): number {
  const total = b.total - a.total;
  return total > 0 ? Math.max(0, (b.busy - a.busy - (b.self - a.self)) / total) : NaN;
}

/** Wait (at most maxS) for 3 s in a row in which the rest of the machine uses under `limit` of the CPUs. */
async function waitQuiet(maxS: number, limit = 0.1): Promise<number> {
  const t0 = performance.now();
  let quiet = 0;
  for (;;) {
    const a = cpuSnapshot();
    await new Promise((r) => setTimeout(r, 1000));
    const share = othersShare(a, cpuSnapshot());
    quiet = share < limit ? quiet + 1 : 0;
    if (quiet >= 3 || (performance.now() - t0) / 1000 >= maxS) return share;
  }
}

function vmHwmMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

// ───────────────────────────── ours: a child process driving the real Trainer ─────────────────────────────

async function oursWorker(o: { model: string; size: number; batch: number; tags: number; steps: number; warmup: number; threads: number; result: string }) {
  const { createTrainer } = await import('../src/train/trainer.ts');
  let t = performance.now();
  const trainer = await createTrainer({
    model: o.model, tags: o.tags, imageSize: [o.size, o.size], batchSize: o.batch, threads: o.threads, seed: 0,
    optimizer: { name: 'sgd', momentum: 0.9, nesterov: true }, loss: 'binary_crossentropy',
  });
  const setupS = (performance.now() - t) / 1000;
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) / 16777216;
  const x = Float32Array.from({ length: o.batch * o.size * o.size * 3 }, rand);
  const labels = Float32Array.from({ length: o.batch * o.tags }, () => (rand() < 0.05 ? 1 : 0));
  const times: number[] = [], cpu: number[] = [], losses: number[] = [];
  let before = cpuSnapshot();
  for (let i = 0; i < o.warmup + o.steps; i++) {
    if (i === o.warmup) before = cpuSnapshot();
    const xb = x.slice(), lb = labels.slice(); // step() transfers its buffers to the worker
    t = performance.now();
    const c0 = process.cpuUsage();
    const { loss } = await trainer.step(xb, lb, 0.01);
    times.push((performance.now() - t) / 1000);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6);
    losses.push(loss);
  }
  const others = othersShare(before, cpuSnapshot());
  await trainer.close();
  const stepS = median(times.slice(o.warmup));
  const m: Omit<Measurement, 'runner' | 'case' | 'round'> = {
    step_s: times, cpu_s: cpu, warmup: o.warmup, median_step_s: stepS, img_per_s: o.batch / stepS, peak_rss_mb: vmHwmMb(), others_cpu: others,
    setup_s: setupS, loss_first: losses[0], loss_last: losses.at(-1),
  };
  fs.writeFileSync(o.result, `${JSON.stringify(m)}\n`);
}

// ───────────────────────────── the parent: interleaved rounds ─────────────────────────────

function run(cmd: string, argv: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd: ROOT, env: { ...process.env, ...MALLOC_ENV }, stdio: ['ignore', 'inherit', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${argv.join(' ')} exited with ${code}:\n${err.slice(-2000)}`))));
  });
}

async function measure(runner: Runner, c: Case, o: { tags: number; steps: number; warmup: number; threads: number }, round: number): Promise<Measurement> {
  const result = path.join(OUT, 'tmp', `train-${c.id}-${runner}-${round}.json`);
  fs.rmSync(result, { force: true });
  const common = ['--size', `${c.size}`, '--batch', `${c.batch}`, '--tags', `${o.tags}`, '--steps', `${o.steps}`, '--warmup', `${o.warmup}`, '--threads', `${o.threads}`, '--result', result];
  if (runner === 'ours') {
    await run(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--worker', '--model', c.model, ...common]);
  } else {
    const v = RESNET_VARIANTS[c.model];
    await run(PYTHON, [path.join(ROOT, 'bench', 'torch_train.py'), '--filters', v.filters.join(','), '--repeats', v.repeats.join(','), '--layout', runner, ...common]);
  }
  const m = JSON.parse(fs.readFileSync(result, 'utf8')) as Omit<Measurement, 'runner' | 'case' | 'round' | 'img_per_s'> & { img_per_s?: number };
  return { ...m, img_per_s: c.batch / m.median_step_s, runner, case: c.id, round };
}

/** img/s of the least disturbed timed step: what the code can do when the shared machine lets it. */
const bestRate = (m: Measurement) => (m.img_per_s * m.median_step_s) / Math.min(...m.step_s.slice(m.warmup));
const fmt = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '–');
const span = (xs: readonly number[], d = 1) => (xs.length === 0 ? '–' : xs.length === 1 ? fmt(xs[0]!, d) : `${fmt(median(xs), d)} (${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)})`);

function table(cases: readonly Case[], results: readonly Measurement[], runners: readonly Runner[]): string {
  const rows = ['| case | runner | img/s (median step) | img/s (best step) | step ms | CPU s/step | peak RSS MB | others\' CPU | ours ÷ best PyTorch (median step; best step) |', '|---|---|---|---|---|---|---|---|---|'];
  for (const c of cases) {
    const rounds = [...new Set(results.filter((r) => r.case === c.id).map((r) => r.round))];
    const ratios = (rate: (m: Measurement) => number) => rounds.flatMap((round) => {
      const of = (rn: Runner) => {
        const m = results.find((r) => r.case === c.id && r.round === round && r.runner === rn);
        return m ? rate(m) : NaN;
      };
      const ratio = of('ours') / Math.max(...(['nchw', 'cl'] as const).map(of).filter(Number.isFinite));
      return Number.isFinite(ratio) ? [ratio] : [];
    });
    for (const rn of runners) {
      const rs = results.filter((r) => r.case === c.id && r.runner === rn);
      if (rs.length === 0) continue;
      const label = rn === 'ours' ? 'tagbooru (ORT)' : `PyTorch ${rn === 'cl' ? 'channels_last' : 'NCHW'}`;
      const ratio = rn === 'ours' ? `**${span(ratios((m) => m.img_per_s), 2)}×**; ${span(ratios(bestRate), 2)}×` : '';
      rows.push(`| ${c.id}: ${c.model} ${c.size}² b${c.batch} | ${label} | ${span(rs.map((r) => r.img_per_s))} | ${span(rs.map(bestRate))} | ${span(rs.map((r) => r.median_step_s * 1000), 0)} | ${span(rs.map((r) => median(r.cpu_s.slice(r.warmup))), 2)} | ${span(rs.map((r) => r.peak_rss_mb), 0)} | ${span(rs.map((r) => r.others_cpu * 100), 0)} % | ${ratio} |`);
    }
  }
  return rows.join('\n');
}

async function main() {
  const { values } = parseArgs({
    options: {
      worker: { type: 'boolean', default: false },
      model: { type: 'string' }, size: { type: 'string' }, batch: { type: 'string' }, result: { type: 'string' },
      cases: { type: 'string', default: 'a,b' },
      runners: { type: 'string', default: RUNNERS.join(',') },
      rounds: { type: 'string', default: '3' },
      steps: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      threads: { type: 'string', default: '2' },
      tags: { type: 'string', default: '1000' },
      'batch-b': { type: 'string', default: '16' },
      'wait-quiet': { type: 'string', default: '0' },
    },
  });
  const o = { tags: Number(values.tags), steps: Number(values.steps), warmup: Number(values.warmup), threads: Number(values.threads) };
  if (values.worker) {
    return oursWorker({ ...o, model: values.model!, size: Number(values.size), batch: Number(values.batch), result: values.result! });
  }
  const all: Case[] = [
    { id: 'a', model: 'resnet_custom_narrow', size: 128, batch: 32 },
    { id: 'b', model: 'resnet_custom_v4_narrow', size: 224, batch: Number(values['batch-b']) },
  ];
  const wanted = list(values.cases);
  const cases = all.filter((c) => wanted.includes(c.id));
  const runners = list(values.runners).filter((r): r is Runner => (RUNNERS as readonly string[]).includes(r));
  if (cases.length === 0 || runners.length === 0) throw new Error(`Expected --cases from a,b and --runners from ${RUNNERS.join(',')}; got "${values.cases}" and "${values.runners}"`);
  fs.mkdirSync(path.join(OUT, 'tmp'), { recursive: true });
  const results: Measurement[] = [];
  const started = new Date().toISOString();
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const c of cases) {
      const order = runners.map((_, i) => runners[(i + round) % runners.length]!);
      for (const rn of order) {
        if (Number(values['wait-quiet']) > 0) await waitQuiet(Number(values['wait-quiet']));
        const m = await measure(rn, c, o, round);
        results.push(m);
        console.error(`round ${round} ${c.id} ${rn.padEnd(4)} ${fmt(m.img_per_s)} img/s (best ${fmt(bestRate(m))})  step ${fmt(m.median_step_s * 1000, 0)} ms  CPU ${fmt(median(m.cpu_s.slice(m.warmup)), 2)} s  RSS ${fmt(m.peak_rss_mb, 0)} MB  others ${fmt(m.others_cpu * 100, 0)} %`);
      }
    }
  }
  const md = table(cases, results, runners);
  const summary = {
    started, finished: new Date().toISOString(), command: `bash bench/train.sh ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version }, options: { ...o, rounds: Number(values.rounds) },
    cases, results, table: md,
  };
  fs.writeFileSync(path.join(OUT, 'train-bench.json'), `${JSON.stringify(summary, null, 1)}\n`);
  console.log(md);
}

await main();
