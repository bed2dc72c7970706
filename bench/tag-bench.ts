/**
 * Tagging benchmark ("Step 1"): end-to-end images/s of `tagbooru tag` on a folder of JPEGs against Debian's
 * PyTorch running the same DeepDanbooru ResNet (bench/torch_resnet.py, eager and jit-frozen), plus the raw
 * ONNX Runtime session time on pre-made tensors, all in one interleaved run with the same images and threads.
 *
 *   node --import tsx bench/tag-bench.ts [--images 48] [--models v4,v3] [--batches 1,16] [--rounds 1]
 *   bash bench/run.sh [same flags]           # sets the malloc env, checks python3-torch
 *
 * Every measured program runs as its own child process with MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_
 * set (reference/dependencies.md §B) and 2 threads, under /usr/bin/time for its peak RSS. The parent timestamps
 * each stdout line (one per image, for both `tagbooru tag --format jsonl` and the PyTorch script), so
 * "steady" images/s = (N − B) / (time of the last line − time the first batch's lines arrived): no process
 * start, model load or first batch in it. "wall" images/s = N / (spawn → exit). `tag` is also run on an empty
 * folder to measure its startup. Results: a markdown table on stdout, JSON in bench/out/tag-bench.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BENCH = path.join(ROOT, 'bench');
const PYTHON = '/usr/bin/python3';
const TIME = '/usr/bin/time';
const MALLOC_ENV = { MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '4294967296' };
const ARCH: Record<string, string> = { v3: 'resnet_custom_v3', v4: 'resnet_custom_v4' };
/** Image sizes cycled through (w×h): photos, scans and screenshots of the usual shapes. */
const SIZES: readonly (readonly [number, number])[] = [[800, 600], [1200, 1600], [1024, 768], [1280, 720], [1600, 1200], [1000, 1000], [600, 800], [1440, 1080]];

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

// ───────────────────────────── child workers (same file, so the parent stays light) ─────────────────────────────

async function rawOrtWorker(o: { model: string; batch: number; runs: number; warmup: number; threads: number; result: string }) {
  const { ModelSession } = await import('../src/infer/session.ts');
  let t = performance.now();
  const session = await ModelSession.create(o.model, { threads: o.threads });
  const createS = (performance.now() - t) / 1000;
  const { name, shape } = session.inputs[0]!;
  const dims = shape.map((d) => (typeof d === 'number' && d > 0 ? d : o.batch));
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
  let seed = 12345;
  for (let i = 0; i < data.length; i++) data[i] = ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) / 16777216;
  const input = { [name]: { data, dims } };
  const time = async () => ((t = performance.now()), await session.run(input), (performance.now() - t) / 1000);
  const warm: number[] = [], runs: number[] = [];
  for (let i = 0; i < o.warmup; i++) warm.push(await time());
  for (let i = 0; i < o.runs; i++) runs.push(await time());
  await session.release();
  const batchS = median(runs);
  fs.writeFileSync(o.result, JSON.stringify({
    runtime: 'onnxruntime-node', batch: o.batch, threads: o.threads, input: { name, dims }, session_create_s: createS,
    warmup_runs_s: warm, model_runs_s: runs, model_batch_s: batchS, model_img_per_s: o.batch / batchS,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  }));
}

/**
 * tagbooru's decode + preprocess alone, one image at a time, no model: wall and CPU time per image. CPU time
 * (process.cpuUsage, which includes sharp's libuv threads) hardly changes when the machine is shared.
 */
async function decodeWorker(o: { bundle: string; images: string; result: string }) {
  const { readBundle } = await import('../src/infer/bundle.ts');
  const { decodeImage, preprocess } = await import('../src/image/index.ts');
  const spec = (await readBundle(o.bundle)).manifest.preprocess;
  const files = fs.readdirSync(o.images).filter((f) => /\.jpe?g$/i.test(f)).sort().map((f) => path.join(o.images, f));
  const out = new Float32Array(spec.width * spec.height * 3);
  const decodeS: number[] = [], preprocessS: number[] = [], cpuS: number[] = [];
  for (const pass of [0, 1]) { // pass 0 warms up (sharp init, JIT)
    for (const file of files) {
      const c0 = process.cpuUsage(), t0 = performance.now();
      const image = await decodeImage(file);
      const t1 = performance.now();
      preprocess(image, spec, out, 0);
      const t2 = performance.now(), c = process.cpuUsage(c0);
      if (pass === 0) continue;
      decodeS.push((t1 - t0) / 1000);
      preprocessS.push((t2 - t1) / 1000);
      cpuS.push((c.user + c.system) / 1e6);
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  fs.writeFileSync(o.result, JSON.stringify({ images: files.length, decode_img_s: mean(decodeS), preprocess_img_s: mean(preprocessS), cpu_img_s: mean(cpuS), peak_rss_mb: process.resourceUsage().maxRSS / 1024 }));
}

/** Only used while the CLI's `init-model` does not exist: writes model.onnx (no tagger.json) with the library. */
async function initModelWorker(o: { arch: string; tags: number; size: number; out: string }) {
  const { buildModel } = await import('../src/models/registry.ts');
  const { initWeights } = await import('../src/models/init.ts');
  const { exportInference } = await import('../src/models/export.ts');
  const spec = buildModel(o.arch, { tags: o.tags, imageSize: [o.size, o.size] });
  const bytes = exportInference(spec, initWeights(spec, 0), { batch: 'N' });
  fs.mkdirSync(o.out, { recursive: true });
  fs.writeFileSync(path.join(o.out, 'model.onnx'), bytes);
}

// ───────────────────────────── running and measuring a child ─────────────────────────────

interface ChildRun {
  readonly argv: readonly string[];
  readonly code: number | null;
  readonly wallS: number;
  /** Seconds after spawn at which each stdout line arrived. */
  readonly lineTimes: number[];
  readonly peakRssMb: number | null;
  /** user + system CPU seconds (GNU time); with 2 threads an uncontended run approaches 2 × wall */
  readonly cpuS: number | null;
  /** CPU seconds the rest of the machine used while the child ran (all CPUs' busy time − the child's) */
  readonly othersCpuS: number | null;
  readonly stderrTail: string;
}

const hasTime = fs.existsSync(TIME);

function runChild(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<ChildRun> {
  const rssFile = path.join(BENCH, 'out', 'tmp', `rss-${process.pid}-${Math.random().toString(36).slice(2)}.txt`);
  const [file, argv] = hasTime ? [TIME, ['-f', '%M %U %S', '-o', rssFile, cmd, ...args]] : [cmd, [...args]];
  const busy0 = busyCpuS();
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(file, argv, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const lineTimes: number[] = [];
    let stderr = '', hwmKb = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      const now = (performance.now() - t0) / 1000;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lineTimes.push(now);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    // without GNU time: poll the child's own high-water mark
    const poll = hasTime ? undefined : setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) hwmKb = Math.max(hwmKb, Number(m[1]));
      } catch { /* exited */ }
    }, 50);
    child.on('error', reject);
    child.on('close', (code) => {
      const wallS = (performance.now() - t0) / 1000;
      if (poll) clearInterval(poll);
      let peak: number | null = hwmKb ? hwmKb / 1024 : null, cpuS: number | null = null;
      if (hasTime && fs.existsSync(rssFile)) {
        const [kb, user, sys] = fs.readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
        peak = kb! / 1024;
        cpuS = user! + sys!;
        fs.rmSync(rssFile);
      }
      resolve({ argv: [cmd, ...args], code, wallS, lineTimes, peakRssMb: peak, cpuS, othersCpuS: cpuS === null ? null : busyCpuS() - busy0 - cpuS, stderrTail: stderr.slice(-1500) });
    });
  });
}

const CPUS = os.availableParallelism();
const USER_HZ = 100;
/** Busy CPU seconds of the whole machine since boot (/proc/stat: everything but idle and iowait). */
function busyCpuS(): number {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return (f.reduce((a, b) => a + b, 0) - f[3]! - f[4]!) / USER_HZ;
}

/** Wait (at most maxS) for 3 s in which the rest of the machine uses under `limit` of the CPUs. */
async function waitQuiet(maxS: number, limit = 0.1): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const b0 = busyCpuS();
    await new Promise((r) => setTimeout(r, 3000));
    const share = (busyCpuS() - b0) / (3 * CPUS);
    if (share < limit || (performance.now() - t0) / 1000 >= maxS) return share;
  }
}

/**
 * Images/s after the first batch, from the arrival times of the per-image lines: `steady` over the whole rest,
 * `best` from the shortest gap between two batches' completions (the least disturbed batch on a shared machine).
 */
function lineRates(lineTimes: readonly number[], batch: number): { steady: number; best: number } {
  const n = lineTimes.length;
  if (n <= batch) return { steady: NaN, best: NaN };
  const span = lineTimes[n - 1]! - lineTimes[batch - 1]!;
  const ends: number[] = [];
  for (let i = batch - 1; i < n; i += batch) ends.push(lineTimes[i]!);
  const gaps = ends.slice(1).map((t, i) => t - ends[i]!).filter((g) => g > 0);
  return { steady: span > 0 ? (n - batch) / span : NaN, best: gaps.length ? batch / Math.min(...gaps) : NaN };
}

function childFailed(what: string, run: ChildRun): never {
  throw new Error(`${what} exited with ${run.code}\n  ${run.argv.join(' ')}\n${run.stderrTail}`);
}

// ───────────────────────────── inputs: images and bundles ─────────────────────────────

async function makeImages(dir: string, count: number): Promise<string[]> {
  const { default: sharp } = await import('sharp');
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `img_${String(i).padStart(4, '0')}.jpg`);
    files.push(file);
    if (fs.existsSync(file)) continue;
    const [w, h] = SIZES[i % SIZES.length]!;
    // smooth colour gradients and waves with some grain: between a flat drawing and a noisy photo
    let s = (i + 1) * 2654435761 >>> 0;
    const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
    const f = [rnd() * 20 + 2, rnd() * 20 + 2, rnd() * 20 + 2], ph = [rnd() * 6, rnd() * 6, rnd() * 6];
    const px = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const u = x / w, v = y / h, o = (y * w + x) * 3;
        for (let c = 0; c < 3; c++) {
          const wave = Math.sin(f[c]! * (u * (c + 1) + v) + ph[c]!) * Math.cos(f[(c + 1) % 3]! * v - u * 3);
          px[o + c] = Math.max(0, Math.min(255, 128 + 90 * wave + 40 * (u - v) + (rnd() - 0.5) * 40));
        }
      }
    }
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toFile(file);
  }
  return files;
}

interface Cli {
  readonly available: boolean;
  readonly tagHelp: string;
}

async function probeCli(env: NodeJS.ProcessEnv): Promise<Cli> {
  if (!fs.existsSync(path.join(ROOT, 'src', 'cli', 'main.ts'))) return { available: false, tagHelp: '' };
  const help = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const c = spawn(process.execPath, ['bin/tagbooru.js', 'tag', '--help'], { cwd: ROOT, env });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    c.on('close', (code) => resolve({ code, out }));
    c.on('error', () => resolve({ code: -1, out }));
  });
  return { available: /--batch-size/.test(help.out), tagHelp: help.out };
}

async function ensureBundle(dir: string, arch: string, tags: number, size: number, cli: Cli, env: NodeJS.ProcessEnv, rebuild: boolean): Promise<{ dir: string; model: string; via: string }> {
  const manifest = path.join(dir, 'tagger.json');
  const complete = fs.existsSync(manifest) || (!cli.available && fs.existsSync(path.join(dir, 'model.onnx')));
  if (rebuild || !complete) {
    fs.rmSync(dir, { recursive: true, force: true });
    const t = performance.now();
    const run = cli.available
      ? await runChild(process.execPath, ['bin/tagbooru.js', 'init-model', arch, '--tags', String(tags), '--image-size', String(size), '--out', dir], env)
      : await runChild(process.execPath, ['--import', 'tsx', 'bench/tag-bench.ts', '--worker', 'init-model', '--arch', arch, '--tags', String(tags), '--size', String(size), '--out', dir], env);
    if (run.code !== 0) childFailed(`init-model ${arch}`, run);
    log(`  bundle ${path.relative(ROOT, dir)} built in ${((performance.now() - t) / 1000).toFixed(1)} s (${cli.available ? 'CLI init-model' : 'library, model.onnx only'})`);
  }
  let model = path.join(dir, 'model.onnx');
  if (fs.existsSync(manifest)) {
    const m = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { model?: string };
    if (m.model) model = path.join(dir, m.model);
  }
  return { dir, model, via: fs.existsSync(manifest) ? 'cli' : 'library' };
}

const log = (s: string) => process.stderr.write(`${s}\n`);
const others = (r: { othersPct: number | null }) => (r.othersPct === null ? '' : `, others' CPU ${r.othersPct.toFixed(0)} %`);

// ───────────────────────────── the benchmark ─────────────────────────────

interface Row {
  model: string;
  batch: number;
  runner: 'tagbooru tag' | 'ORT raw' | 'PyTorch eager' | 'PyTorch frozen';
  round: number;
  /** images/s after the first batch, stdout-line timestamps */
  steadyImgPerS?: number;
  /** images/s of the fastest batch after the first */
  bestImgPerS?: number;
  /** N / (spawn → exit) */
  wallImgPerS?: number;
  wallS?: number;
  /** `tag` on an empty folder (spawn → exit); PyTorch: import + build + prepare (self-reported) */
  startupS?: number;
  /** N / (wall − startup) */
  netImgPerS?: number;
  modelBatchS?: number;
  modelImgPerS?: number;
  /** model-only images/s of the fastest run */
  modelBestImgPerS?: number;
  peakRssMb: number | null;
  /** CPU seconds / wall seconds of the child: ≈ 2 with 2 busy threads, less when the machine is shared */
  cpuPerWall: number | null;
  /** share of all CPUs that other processes used while the child ran: > ~5 % means a disturbed timing */
  othersPct: number | null;
  detail: Record<string, unknown>;
}

const procStats = (run: ChildRun) => ({
  cpuPerWall: run.cpuS === null ? null : run.cpuS / run.wallS,
  othersPct: run.othersCpuS === null ? null : Math.max(0, (100 * run.othersCpuS) / (CPUS * run.wallS)),
});

async function main() {
  const { values } = parseArgs({
    options: {
      worker: { type: 'string' },
      images: { type: 'string', default: '48' },
      models: { type: 'string', default: 'v4,v3' },
      batches: { type: 'string', default: '1,16' },
      rounds: { type: 'string', default: '1' },
      tags: { type: 'string', default: '9176' },
      size: { type: 'string', default: '512' },
      threads: { type: 'string', default: '2' },
      runners: { type: 'string', default: 'tag,raw,eager,frozen,decode' },
      'torch-layout': { type: 'string', default: 'auto' },
      'raw-images': { type: 'string', default: '16' },
      // before each measured child, wait up to this many seconds for 3 quiet seconds
      'wait-quiet': { type: 'string', default: '0' }, // images per raw-ORT measurement: runs = max(2, this / batch)
      rebuild: { type: 'boolean', default: false },
      out: { type: 'string', default: path.join(BENCH, 'out') },
      // worker options
      model: { type: 'string' }, batch: { type: 'string' }, runs: { type: 'string' }, warmup: { type: 'string' },
      result: { type: 'string' }, arch: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return void process.stdout.write(`${fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]}*/\n`);
  const threads = Number(values.threads);
  if (values.worker === 'raw-ort') {
    return rawOrtWorker({ model: values.model!, batch: Number(values.batch), runs: Number(values.runs), warmup: Number(values.warmup), threads, result: values.result! });
  }
  if (values.worker === 'decode') return decodeWorker({ bundle: values.model!, images: values.images, result: values.result! });
  if (values.worker === 'init-model') return initModelWorker({ arch: values.arch!, tags: Number(values.tags), size: Number(values.size), out: values.out });
  if (values.worker) throw new Error(`unknown --worker ${values.worker}`);

  const nImages = Number(values.images), tags = Number(values.tags), size = Number(values.size), rounds = Number(values.rounds);
  const models = list(values.models).map((m) => {
    const arch = ARCH[m] ?? m;
    if (!Object.values(ARCH).includes(arch)) throw new Error(`--models: unknown "${m}". Known: ${Object.keys(ARCH).join(', ')}`);
    return { key: m, arch };
  });
  const batches = list(values.batches).map(Number);
  const runners = new Set(list(values.runners));
  const outDir = path.resolve(values.out);
  fs.mkdirSync(path.join(BENCH, 'out', 'tmp'), { recursive: true });
  fs.mkdirSync(outDir, { recursive: true });

  const env: NodeJS.ProcessEnv = { ...process.env, ...MALLOC_ENV, OMP_NUM_THREADS: String(threads) };
  const cli = await probeCli(env);
  if (!cli.available) log('! the CLI (`tagbooru tag --batch-size`) is not there yet: measuring raw ORT and PyTorch only');
  if (runners.has('eager') || runners.has('frozen')) {
    const probe = await runChild(PYTHON, ['-c', 'import torch'], env);
    if (probe.code !== 0) throw new Error(`${PYTHON} cannot import torch: apt-get install -y python3-torch (or run bench/run.sh)\n${probe.stderrTail}`);
  }
  const tagThreads = /--threads/.test(cli.tagHelp) ? ['--threads', String(threads)] : [];

  log(`images: ${nImages} JPEGs, ${SIZES.length} sizes from 600×800 to 1600×1200`);
  const imageDir = path.join(BENCH, 'out', 'images', String(nImages));
  await makeImages(imageDir, nImages);
  const emptyDir = path.join(BENCH, 'out', 'images', 'empty');
  fs.mkdirSync(emptyDir, { recursive: true });

  const bundles = new Map<string, Awaited<ReturnType<typeof ensureBundle>>>();
  for (const m of models) {
    bundles.set(m.key, await ensureBundle(path.join(BENCH, 'out', 'bundles', `${m.arch}-${tags}-${size}`), m.arch, tags, size, cli, env, values.rebuild));
  }

  // layout per PyTorch mode, chosen from the model-only measurements recorded in bench/README.md
  const layout = (mode: string) => (values['torch-layout'] === 'auto' ? (mode === 'frozen' ? 'cl' : 'nchw') : values['torch-layout']);
  const rows: Row[] = [];
  const started = performance.now();
  const quietWait = Number(values['wait-quiet']);
  const measured = async (cmd: string, args: readonly string[]) => {
    if (quietWait > 0) await waitQuiet(quietWait);
    return runChild(cmd, args, env);
  };
  const tmp = (name: string) => path.join(BENCH, 'out', 'tmp', name);

  const decodeRuns: Record<string, unknown>[] = [];
  for (let round = 1; round <= rounds; round++) {
    const first = bundles.get(models[0]!.key)!;
    if (runners.has('decode') && first.via === 'cli') {
      const result = tmp('decode.json');
      const run = await measured(process.execPath, ['--import', 'tsx', 'bench/tag-bench.ts', '--worker', 'decode', '--model', first.dir, '--images', imageDir, '--result', result]);
      if (run.code !== 0) childFailed('decode worker', run);
      const r = JSON.parse(fs.readFileSync(result, 'utf8')) as { decode_img_s: number; preprocess_img_s: number; cpu_img_s: number };
      decodeRuns.push({ round, ...r, ...procStats(run) });
      log(`[round ${round}] tagbooru decode ${(r.decode_img_s * 1000).toFixed(1)} ms + preprocess ${(r.preprocess_img_s * 1000).toFixed(1)} ms per image, CPU ${(r.cpu_img_s * 1000).toFixed(1)} ms${others(procStats(run))}`);
    }
    for (const m of models) {
      const bundle = bundles.get(m.key)!;
      for (const batch of batches) {
        const head = `[round ${round}] ${m.key} batch ${batch}`;
        if (runners.has('tag') && cli.available) {
          const args = ['bin/tagbooru.js', 'tag', '--model', bundle.dir, '--batch-size', String(batch), '--format', 'jsonl', ...tagThreads];
          const empty = await measured(process.execPath, [args[0]!, args[1]!, emptyDir, ...args.slice(2)]);
          const run = await measured(process.execPath, [args[0]!, args[1]!, imageDir, ...args.slice(2)]);
          if (run.code !== 0) childFailed('tagbooru tag', run);
          if (run.lineTimes.length !== nImages) log(`! tag printed ${run.lineTimes.length} lines for ${nImages} images`);
          const startupS = empty.code === 0 ? empty.wallS : undefined;
          const rates = lineRates(run.lineTimes, batch);
          rows.push({
            model: m.key, batch, runner: 'tagbooru tag', round, steadyImgPerS: rates.steady, bestImgPerS: rates.best, wallImgPerS: nImages / run.wallS, wallS: run.wallS,
            startupS, netImgPerS: startupS !== undefined ? nImages / (run.wallS - startupS) : undefined, peakRssMb: run.peakRssMb, ...procStats(run),
            detail: { firstLineS: run.lineTimes[0], lines: run.lineTimes.length, emptyFolderExit: empty.code, emptyFolderRssMb: empty.peakRssMb, emptyFolderStderr: empty.code === 0 ? undefined : empty.stderrTail },
          });
          log(`${head} tag: ${fmt(rows.at(-1)!.steadyImgPerS)} img/s steady, wall ${run.wallS.toFixed(1)} s, startup ${startupS?.toFixed(1) ?? '?'} s, ${fmt(run.peakRssMb, 0)} MB${others(rows.at(-1)!)}`);
        }
        if (runners.has('raw')) {
          const result = tmp(`raw-${m.key}-${batch}.json`);
          const runs = Math.max(2, Math.ceil(Number(values['raw-images']) / batch));
          const run = await measured(process.execPath, ['--import', 'tsx', 'bench/tag-bench.ts', '--worker', 'raw-ort', '--model', bundle.model, '--batch', String(batch), '--runs', String(runs), '--warmup', batch === 1 ? '2' : '1', '--threads', String(threads), '--result', result]);
          if (run.code !== 0) childFailed('raw ORT worker', run);
          const r = JSON.parse(fs.readFileSync(result, 'utf8')) as { model_batch_s: number; model_img_per_s: number; model_runs_s: number[]; session_create_s: number; peak_rss_mb: number };
          rows.push({ model: m.key, batch, runner: 'ORT raw', round, modelBatchS: r.model_batch_s, modelImgPerS: r.model_img_per_s, modelBestImgPerS: batch / Math.min(...r.model_runs_s), wallS: run.wallS, startupS: r.session_create_s, peakRssMb: run.peakRssMb ?? r.peak_rss_mb, ...procStats(run), detail: r });
          log(`${head} raw ORT: ${(r.model_batch_s * 1000).toFixed(0)} ms/batch = ${fmt(r.model_img_per_s)} img/s, ${fmt(run.peakRssMb, 0)} MB${others(rows.at(-1)!)}`);
        }
        for (const mode of ['eager', 'frozen'] as const) {
          if (!runners.has(mode)) continue;
          const result = tmp(`torch-${m.key}-${batch}-${mode}.json`);
          const run = await measured(PYTHON, ['bench/torch_resnet.py', '--arch', m.arch, '--tags', String(tags), '--size', String(size), '--batch', String(batch), '--mode', mode, '--layout', layout(mode), '--threads', String(threads), '--images', imageDir, '--result', result]);
          if (run.code !== 0) childFailed(`torch_resnet.py ${mode}`, run);
          const r = JSON.parse(fs.readFileSync(result, 'utf8')) as Record<string, number> & { model_runs_s: number[] };
          const startupS = r.import_s! + r.build_s! + r.prepare_s!;
          const rates = lineRates(run.lineTimes, batch);
          const forward = r.model_runs_s.length > 1 ? r.model_runs_s.slice(1) : r.model_runs_s;
          rows.push({
            model: m.key, batch, runner: mode === 'eager' ? 'PyTorch eager' : 'PyTorch frozen', round,
            steadyImgPerS: rates.steady, bestImgPerS: rates.best, wallImgPerS: nImages / run.wallS, wallS: run.wallS, startupS, netImgPerS: r.e2e_loop_img_per_s,
            modelBatchS: r.model_batch_s, modelImgPerS: r.model_img_per_s, modelBestImgPerS: batch / Math.min(...forward), peakRssMb: run.peakRssMb ?? r.peak_rss_mb!, ...procStats(run), detail: r,
          });
          log(`${head} torch ${mode} (${layout(mode)}): ${fmt(rows.at(-1)!.steadyImgPerS)} img/s steady, model ${(r.model_batch_s! * 1000).toFixed(0)} ms/batch, prepare ${r.prepare_s!.toFixed(1)} s, ${fmt(run.peakRssMb, 0)} MB${others(rows.at(-1)!)}`);
        }
      }
    }
  }

  const summary = summarise(rows, models.map((m) => m.key), batches);
  const report = {
    date: new Date().toISOString(), node: process.version, git: gitState(), threads, images: nImages, imageSizes: SIZES, tags, size, rounds,
    torchLayout: { eager: layout('eager'), frozen: layout('frozen') }, cli: cli.available, bundles: Object.fromEntries(bundles),
    totalS: (performance.now() - started) / 1000, summary, decode: decodeSummary(decodeRuns, rows, threads), rows,
  };
  fs.writeFileSync(path.join(outDir, 'tag-bench.json'), `${JSON.stringify(report, null, 1)}\n`);
  process.stdout.write(markdown(summary, report) + decodeMarkdown(report.decode));
}

interface DecodeSummary {
  tagbooru?: { wallMs: number; decodeMs: number; preprocessMs: number; cpuMs: number; othersPct: number | null };
  pil?: { wallMs: number; cpuMs: number };
  /** decode CPU ÷ (threads × raw ORT time per image): the overhead expected when decoding takes CPU from the model */
  predictedOverheadPct: Record<string, number>;
}

function decodeSummary(runs: readonly Record<string, unknown>[], rows: readonly Row[], threads: number): DecodeSummary {
  const num = (xs: unknown[]) => median(xs.filter((x): x is number => typeof x === 'number'));
  const out: DecodeSummary = { predictedOverheadPct: {} };
  if (runs.length) {
    const cpu = num(runs.map((r) => r.cpu_img_s));
    out.tagbooru = {
      wallMs: 1000 * (num(runs.map((r) => r.decode_img_s)) + num(runs.map((r) => r.preprocess_img_s))), decodeMs: 1000 * num(runs.map((r) => r.decode_img_s)),
      preprocessMs: 1000 * num(runs.map((r) => r.preprocess_img_s)), cpuMs: 1000 * cpu, othersPct: num(runs.map((r) => r.othersPct)),
    };
    for (const r of rows.filter((x) => x.runner === 'ORT raw' && x.modelBatchS)) {
      out.predictedOverheadPct[`${r.model} b${r.batch}`] = (100 * cpu) / (threads * (r.modelBatchS! / r.batch));
    }
  }
  const torch = rows.filter((r) => r.runner.startsWith('PyTorch'));
  if (torch.length) out.pil = { wallMs: 1000 * num(torch.map((r) => r.detail.decode_img_s)), cpuMs: 1000 * num(torch.map((r) => r.detail.decode_cpu_img_s)) };
  return out;
}

function decodeMarkdown(d: DecodeSummary): string {
  const lines: string[] = [];
  if (d.tagbooru) {
    const t = d.tagbooru;
    lines.push(`Decode + preprocess alone, serial, per image: tagbooru ${t.wallMs.toFixed(1)} ms (sharp decode ${t.decodeMs.toFixed(1)} + area resize, pad, float ${t.preprocessMs.toFixed(1)}), ${t.cpuMs.toFixed(1)} ms CPU` +
      (d.pil ? `; PIL in the PyTorch loop ${d.pil.wallMs.toFixed(1)} ms, ${d.pil.cpuMs.toFixed(1)} ms CPU.` : '.'));
    const pred = Object.entries(d.predictedOverheadPct).map(([k, v]) => `${k} ${v.toFixed(1)} %`).join(', ');
    if (pred) lines.push(`Overhead expected if decoding only takes CPU away from the model (decode CPU ÷ (threads × raw model time per image)): ${pred}.`);
  } else if (d.pil) {
    lines.push(`PIL decode + resize + pad in the PyTorch loop: ${d.pil.wallMs.toFixed(1)} ms per image, ${d.pil.cpuMs.toFixed(1)} ms CPU.`);
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** Which code was measured: HEAD and how many files differ from it (read-only git). */
function gitState(): { head: string; changedFiles: number } | null {
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  const status = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' });
  if (head.status !== 0 || status.status !== 0) return null;
  return { head: head.stdout.trim(), changedFiles: status.stdout.split('\n').filter(Boolean).length };
}

// ───────────────────────────── summary ─────────────────────────────

interface SummaryRow {
  model: string;
  batch: number;
  runner: Row['runner'];
  steadyImgPerS?: number;
  bestImgPerS?: number;
  wallImgPerS?: number;
  netImgPerS?: number;
  startupS?: number;
  modelImgPerS?: number;
  modelBestImgPerS?: number;
  /** per-image time of the pipeline over the model alone: tag vs ORT raw, PyTorch vs its own forward */
  overheadPct?: number;
  overheadBestPct?: number;
  vsFrozen?: number;
  vsFrozenBest?: number;
  vsEager?: number;
  peakRssMb?: number;
  othersPct?: number;
}

function summarise(rows: readonly Row[], models: readonly string[], batches: readonly number[]): SummaryRow[] {
  const out: SummaryRow[] = [];
  const med = (rs: readonly Row[], k: keyof Row) => {
    const xs = rs.map((r) => r[k]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
    return xs.length ? median(xs) : undefined;
  };
  const max = (rs: readonly Row[], k: keyof Row) => {
    const xs = rs.map((r) => r[k]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
    return xs.length ? Math.max(...xs) : undefined;
  };
  const ratio = (a: number | undefined, b: number | undefined) => (a && b ? a / b : undefined);
  for (const model of models) {
    for (const batch of batches) {
      const of = (runner: Row['runner']) => rows.filter((r) => r.model === model && r.batch === batch && r.runner === runner);
      const frozen = of('PyTorch frozen'), eager = of('PyTorch eager'), raw = of('ORT raw');
      for (const runner of ['tagbooru tag', 'ORT raw', 'PyTorch eager', 'PyTorch frozen'] as const) {
        const rs = of(runner);
        if (!rs.length) continue;
        const s: SummaryRow = {
          model, batch, runner, steadyImgPerS: med(rs, 'steadyImgPerS'), bestImgPerS: max(rs, 'bestImgPerS'), wallImgPerS: med(rs, 'wallImgPerS'),
          netImgPerS: med(rs, 'netImgPerS'), startupS: med(rs, 'startupS'), modelImgPerS: med(rs, 'modelImgPerS'), modelBestImgPerS: max(rs, 'modelBestImgPerS'),
          peakRssMb: med(rs, 'peakRssMb'), othersPct: med(rs, 'othersPct'),
        };
        // end-to-end speed; raw ORT has only its model-only speed
        const [speed, best] = runner === 'ORT raw' ? [s.modelImgPerS, s.modelBestImgPerS] : [s.steadyImgPerS, s.bestImgPerS];
        const [mod, modBest] = runner === 'tagbooru tag' ? [med(raw, 'modelImgPerS'), max(raw, 'modelBestImgPerS')] : runner.startsWith('PyTorch') ? [s.modelImgPerS, s.modelBestImgPerS] : [undefined, undefined];
        const pct = (r: number | undefined) => (r === undefined ? undefined : (r - 1) * 100);
        s.overheadPct = pct(ratio(mod, speed));
        s.overheadBestPct = pct(ratio(modBest, best));
        const [fz, fzBest] = runner === 'ORT raw' ? [med(frozen, 'modelImgPerS'), max(frozen, 'modelBestImgPerS')] : [med(frozen, 'steadyImgPerS'), max(frozen, 'bestImgPerS')];
        s.vsFrozen = ratio(speed, fz);
        s.vsFrozenBest = ratio(best, fzBest);
        s.vsEager = ratio(speed, runner === 'ORT raw' ? med(eager, 'modelImgPerS') : med(eager, 'steadyImgPerS'));
        out.push(s);
      }
    }
  }
  return out;
}

function fmt(x: number | null | undefined, digits = 2): string {
  return x === undefined || x === null || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}
const pair = (a: number | undefined, b: number | undefined, digits = 2, unit = '') =>
  a === undefined && b === undefined ? '–' : `${fmt(a, digits)}${unit} · ${fmt(b, digits)}${unit}`;

function markdown(summary: readonly SummaryRow[], report: { images: number; threads: number; tags: number; size: number; rounds: number; totalS: number; torchLayout: Record<string, string> }): string {
  const lines = [
    `Tagging benchmark: ${report.images} JPEGs, ${report.size}×${report.size}, ${report.tags} tags, ${report.threads} threads, ${report.rounds} round(s), ${report.totalS.toFixed(0)} s in total. PyTorch layouts: eager ${report.torchLayout.eager}, frozen ${report.torchLayout.frozen}.`,
    'Pairs are "steady · best batch" (end to end) and "median · best run" (model only); see bench/README.md.',
    '',
    '| model | batch | runner | end-to-end img/s | model-only img/s | pipeline overhead | × PyTorch frozen | × PyTorch eager | img/s incl. startup | startup s | peak RSS MB | others\' CPU |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of summary) {
    const e2e = s.runner === 'ORT raw' ? '(model only)' : pair(s.steadyImgPerS, s.bestImgPerS);
    lines.push(`| ${s.model} | ${s.batch} | ${s.runner} | ${e2e} | ${pair(s.modelImgPerS, s.modelBestImgPerS)} | ${pair(s.overheadPct, s.overheadBestPct, 0, ' %')} | ${pair(s.vsFrozen, s.vsFrozenBest)} | ${fmt(s.vsEager)} | ${fmt(s.wallImgPerS)} | ${fmt(s.startupS, 1)} | ${fmt(s.peakRssMb, 0)} | ${s.othersPct === undefined ? '–' : `${s.othersPct.toFixed(0)} %`} |`);
  }
  lines.push('', 'Targets: `tagbooru tag` end-to-end ≥ 1.3× PyTorch frozen; pipeline overhead (per image, over the raw ORT session) ≤ 10 %.');
  const verdict = (x: number | undefined, ok: (v: number) => boolean, text: (v: number) => string) => (x === undefined || !Number.isFinite(x) ? '?' : `${text(x)} ${ok(x) ? 'PASS' : 'FAIL'}`);
  for (const s of summary.filter((r) => r.runner === 'tagbooru tag')) {
    const vs = (x?: number) => verdict(x, (v) => v >= 1.3, (v) => `${v.toFixed(2)}×`);
    const oh = (x?: number) => verdict(x, (v) => v <= 10, (v) => `${v.toFixed(1)} %`);
    lines.push(`- ${s.model} batch ${s.batch}: vs frozen ${vs(s.vsFrozen)} (best batch: ${vs(s.vsFrozenBest)}); overhead ${oh(s.overheadPct)} (best: ${oh(s.overheadBestPct)})`);
  }
  lines.push('', '"others\' CPU": share of all CPUs used by other processes while the child ran; above a few % the timing was disturbed.');
  lines.push('Startup: `tag` = the same command on an empty folder; ORT raw = session creation; PyTorch = import + build + (trace, freeze, optimize) + warm-up, self-reported.', '');
  return lines.join('\n');
}

await main();
