/**
 * The robustness table of step 13 (docs/adversarial.md, reference/robustness.md §b.2): for one bundle, a held-out
 * labelled set and each defence in the registry (and none), at each ε: clean macro-F1, and hide-tag / add-tag
 * success under the naive attack (gradients of the undefended model) and the adaptive one (through the defence:
 * its backward or BPDA, EOT over its randomness). Then the sanity checks that show gradients are not masked:
 * success against steps (1 step is FGSM with a random start) and ε, an unbounded ε, restarts, APGD, the
 * score-based Square attack and (with --transfer) a transfer attack from another model.
 *
 * Each image's hide goal is one of its selected tags, its add goal one of its unselected tags (both drawn with
 * --seed). Success is judged at the model's resolution; at the headline ε also on the full-size image.
 *
 *   node bin/tagbooru.js make-dataset synthetic /tmp/heldout --count 100 --seed 2 --start-id 1000001 --no-masks
 *   MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 \
 *     node --import tsx bench/robustness-eval.ts --data /tmp/heldout --images 50 --threads 1 --out /tmp/robustness
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeAtomic } from '../src/atomic-files.ts';
import { TrainingDatabase } from '../src/data/training-db.ts';
import { decodeImage, type DecodedImage } from '../src/image/decode.ts';
import { readBundle } from '../src/infer/bundle.ts';
import { Rng } from '../src/models/random.ts';
import { attackBatch, type AttackSettings, type ImageAttack, type Method } from '../src/robust/attack.ts';
import { defenceNames, openAttackDefence } from '../src/robust/defences.ts';
import type { Defence } from '../src/image/defence.ts';
import { defendedLogits, type ThreatModel } from '../src/robust/defended.ts';
import { originalRgb } from '../src/robust/full-size.ts';
import { LOSS_DEFAULTS, goalApplies, judge, selectedTags, tagThresholds, type Goal } from '../src/robust/goals.ts';
import { modelPixels } from '../src/robust/pixel-space.ts';
import { fullSizeVictim } from '../src/robust/full-size-victim.ts';
import { fullSize, fullSizeOutcomes } from '../src/robust/run.ts';
import { openVictim, type Victim } from '../src/robust/victim.ts';
import { computeMetrics } from '../src/train/metrics.ts';

const { values: v } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/default' },
    data: { type: 'string' },
    images: { type: 'string', default: '50' },
    eps: { type: 'string', default: '1,2,4,8' },
    headline: { type: 'string', default: '4' },
    steps: { type: 'string', default: '50' },
    'square-queries': { type: 'string', default: '500' },
    transfer: { type: 'string' },
    defences: { type: 'string' },
    eot: { type: 'string', default: '10' },
    batch: { type: 'string', default: '8' },
    threads: { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: '/tmp/robustness' },
    /** `table` (ε × goal × mode), `checks` (the sanity checks), `full` (the attack on the original, undefended). */
    rows: { type: 'string', default: 'table,checks' },
  },
});
if (!v.data) throw new Error('--data <dataset folder or sqlite> is required (make-dataset synthetic … --seed 2 --start-id 1000001)');
const threads = Number(v.threads), batch = Number(v.batch), steps = Number(v.steps), seed = Number(v.seed);
const epsList = v.eps.split(',').map(Number), headline = Number(v.headline);
const dbFile = v.data.endsWith('.sqlite') ? v.data : path.join(v.data, 'dataset.sqlite');

const bundle = await readBundle(v.model);
const m = bundle.manifest, T = m.tags.length, spec = m.preprocess, SIZE = spec.width * spec.height * 3;
const thresholds = tagThresholds(m);
const victim = await openVictim(bundle, { threads, gradient: true });

const db = TrainingDatabase.open(dbFile, { readonly: true });
const records = [...db.records()].slice(0, Number(v.images));
db.close();
const originals: DecodedImage[] = await Promise.all(records.map(async (r) => originalRgb(await decodeImage(r.path), spec)));
const N = records.length;
const x0 = new Float32Array(N * SIZE);
originals.forEach((o, i) => x0.set(modelPixels(o, spec), i * SIZE));
const labels = new Float32Array(N * T);
records.forEach((r, i) => r.tags.forEach((t) => {
  const j = m.tags.findIndex((tag) => tag.name === t);
  if (j >= 0) labels[i * T + j] = 1;
}));

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
const rows: Record<string, unknown>[] = [];
const log = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);

async function batched<R>(f: (from: number, to: number) => Promise<R[]>): Promise<R[]> {
  const out: R[] = [];
  for (let from = 0; from < N; from += batch) out.push(...(await f(from, Math.min(N, from + batch))));
  return out;
}

function threat(defence: string | null, adaptive: boolean): ThreatModel {
  const r = new Rng(seed + 17);
  return { defence: defence ? opened.get(defence)! : null, adaptive, eot: Number(v.eot), rng: () => r.next() };
}

// the goals, from the undefended clean prediction
const cleanLogits = (await batched(async (a, b) => [await victim.logits(x0.subarray(a * SIZE, b * SIZE), b - a)])).flatMap((l) => [...l]);
const clean = Array.from({ length: N }, (_, i) => selectedTags(cleanLogits.slice(i * T, (i + 1) * T).map(sigmoid), thresholds));
const pick = new Rng(seed);
const choose = (i: number, want: number): Goal | null => {
  const idx = [...clean[i]!.keys()].filter((t) => clean[i]![t] === want);
  return idx.length ? { kind: want ? 'hide' : 'add', tag: idx[pick.int(idx.length)]! } : null;
};
const goals = { hide: records.map((_, i) => choose(i, 1)), add: records.map((_, i) => choose(i, 0)) };

interface Config {
  readonly defence: string | null;
  readonly mode: 'white-box' | 'naive' | 'adaptive' | 'transfer';
  readonly goal: 'hide' | 'add';
  readonly eps: number;
  readonly method: Method;
  readonly steps: number;
  readonly restarts?: number;
  readonly fullSize?: boolean;
  readonly check?: string;
  /** Attack the original (--space full, undefended): success judged on the byte image preprocessed again. */
  readonly space?: 'full';
  /** Transfer: craft on this model (same tags), judge on the victim. */
  readonly source?: { readonly victim: Victim; readonly thresholds: Float64Array };
}

/** One row: every image with a goal attacked, success judged on the (defended) victim. */
async function run(c: Config): Promise<void> {
  const t0 = performance.now();
  const th = threat(c.defence, c.mode === 'adaptive');
  const settings: AttackSettings = {
    method: c.method, norm: 'linf', eps: c.eps / 255, steps: c.steps, restarts: c.restarts ?? 1, threat: th, seed, loss: LOSS_DEFAULTS,
  };
  const active = records.map((_, i) => i).filter((i) => goals[c.goal][i]);
  let success = 0, strict = 0, full = 0, linf = 0, l2 = 0, stepSum = 0, queries = 0, attacked = 0;
  for (let a = 0; a < active.length; a += batch) {
    const idx = active.slice(a, a + batch);
    const sub = new Float32Array(idx.length * SIZE);
    idx.forEach((i, k) => sub.set(x0.subarray(i * SIZE, (i + 1) * SIZE), k * SIZE));
    const g = idx.map((i) => goals[c.goal][i]!);
    let attacks: ImageAttack[];
    let fs2: boolean[] | null = null;
    if (c.space === 'full') {
      attacks = [];
      const re = new Float32Array(idx.length * SIZE);
      for (const [k, i] of idx.entries()) {
        const o = originals[i]!;
        const [r] = await attackBatch(fullSizeVictim(victim, o.width, o.height), Float32Array.from(o.data, (b) => b / 255), [g[k]!], thresholds, { ...settings, seed: seed + i });
        attacks.push(r!);
        re.set(modelPixels({ ...o, data: Uint8Array.from(r!.x, (x) => Math.min(255, Math.max(0, Math.round(x * 255)))) }, spec), k * SIZE);
      }
      fs2 = fullSizeOutcomes(attacks, await victim.logits(re, idx.length), thresholds);
    } else if (c.source) {
      // transfer: crafted on the source model (white-box), judged on the victim against the victim's clean tags
      const crafted = await attackBatch(c.source.victim, sub, g, c.source.thresholds, { ...settings, threat: threat(null, false) });
      const x = new Float32Array(sub.length);
      crafted.forEach((r, k) => x.set(r.x, k * SIZE));
      const logits = await defendedLogits(victim, x, idx.length, th);
      const cleanV = await defendedLogits(victim, sub, idx.length, th);
      attacks = crafted.map((r, k) => {
        const sel = (l: Float32Array) => selectedTags(Float64Array.from(thresholds, (_, t) => sigmoid(l[k * T + t]!)), thresholds);
        const before = sel(cleanV), after = sel(logits);
        const applies = goalApplies(g[k]!, before);
        return { ...r, applies, clean: before, adv: after, outcome: judge(g[k]!, before, after) };
      });
    } else {
      attacks = await attackBatch(victim, sub, g, thresholds, { ...settings, seed: seed + a });
    }
    if (c.fullSize) fs2 = fullSizeOutcomes(attacks, (await fullSize(victim, idx.map((i) => originals[i]!), sub, attacks, settings, seed + a)).logits, thresholds);
    attacks.forEach((r, k) => {
      if (!r.applies) return;
      attacked++;
      if (r.outcome.success) success++;
      if (r.outcome.strict) strict++;
      if (fs2?.[k]) full++;
      linf += r.linf;
      l2 += r.l2;
      stepSum += r.steps;
      queries += r.queries;
    });
  }
  const pct = (k: number) => (attacked ? Math.round((1000 * k) / attacked) / 10 : null);
  const row = {
    defence: c.defence ?? 'none', mode: c.space === 'full' ? `${c.mode}, full size` : c.mode, goal: c.goal, eps: `${c.eps}/255`, method: c.method, steps: c.steps, restarts: c.restarts ?? 1, check: c.check ?? null,
    attacked, success: pct(success), strict: pct(strict), fullSize: c.fullSize || c.space ? pct(full) : null,
    meanLinf: attacked ? +(linf / attacked).toFixed(3) : null, meanL2: attacked ? +(l2 / attacked).toFixed(2) : null,
    meanSteps: attacked ? +(stepSum / attacked).toFixed(1) : null, meanQueries: c.method === 'square' && attacked ? Math.round(queries / attacked) : null,
    seconds: Math.round((performance.now() - t0) / 1000),
  };
  rows.push(row);
  log(JSON.stringify(row));
  await writeResults();
}

// --defences none: the undefended model alone
const defences = [null, ...(v.defences === 'none' ? [] : v.defences ? v.defences.split(',') : defenceNames())];
const opened = new Map<string, Defence>();
for (const d of defences) if (d) opened.set(d, (await openAttackDefence(bundle, d))!);
const cleanRows: Record<string, unknown>[] = [];
for (const d of defences) {
  const th = threat(d, false);
  const logits = (await batched(async (a, b) => [await defendedLogits(victim, x0.subarray(a * SIZE, b * SIZE), b - a, th)])).flatMap((l) => [...l]);
  const metrics = computeMetrics(logits.map(sigmoid), labels, m.tags.map((t) => t.name), thresholds);
  cleanRows.push({ defence: d ?? 'none', macroF1: +metrics.macroF1.toFixed(4), microF1: +metrics.microF1.toFixed(4) });
  log(`clean ${d ?? 'none'}: macro-F1 ${metrics.macroF1.toFixed(4)}`);
}

const sourceBundle = v.transfer ? await readBundle(v.transfer) : null;
if (sourceBundle && sourceBundle.manifest.tags.map((t) => t.name).join() !== m.tags.map((t) => t.name).join()) throw new Error(`--transfer ${v.transfer}: its tags differ from ${bundle.dir}'s`);
const source = sourceBundle ? { victim: await openVictim(sourceBundle, { threads, gradient: true }), thresholds: tagThresholds(sourceBundle.manifest) } : null;
// the headline first, then the cheapest checks: on a busy machine a cut-short run still has the important rows
for (const d of defences) {
  const modes = d ? (['naive', 'adaptive'] as const) : (['white-box'] as const);
  const strongest = d ? 'adaptive' : 'white-box';
  const low = Math.min(...epsList);
  const table = (eps: number) => (['hide', 'add'] as const).flatMap((goal) => modes.map((mode): Config => ({ defence: d, mode, goal, eps, method: 'pgd', steps, fullSize: eps === headline })));
  const configs: Config[] = [
    ...table(headline),
    { defence: d, mode: strongest, goal: 'add', eps: 255, method: 'pgd', steps, check: 'unbounded' },
    ...[1, 5].map((s): Config => ({ defence: d, mode: strongest, goal: 'hide', eps: low, method: 'pgd', steps: s, check: 'steps' })),
    { defence: d, mode: strongest, goal: 'hide', eps: headline, method: 'square', steps: Number(v['square-queries']), check: 'score-based' },
    ...(source ? [{ defence: d, mode: 'transfer', goal: 'hide', eps: headline, method: 'pgd', steps, check: 'transfer', source } as Config] : []),
    ...epsList.filter((e) => e !== headline).flatMap(table),
    ...[10, 20].map((s): Config => ({ defence: d, mode: strongest, goal: 'hide', eps: low, method: 'pgd', steps: s, check: 'steps' })),
    { defence: d, mode: strongest, goal: 'hide', eps: low, method: 'pgd', steps, restarts: 3, check: 'restarts' },
    { defence: d, mode: strongest, goal: 'hide', eps: low, method: 'apgd', steps, check: 'apgd' },
  ];
  if (!d) configs.push(...(['hide', 'add'] as const).map((goal): Config => ({ defence: d, mode: 'white-box', goal, eps: headline, method: 'pgd', steps, space: 'full', check: 'full-size space' })));
  const parts = v.rows.split(',');
  for (const c of configs) if (parts.includes(c.space ? 'full' : c.check ? 'checks' : 'table')) await run(c);
}
await victim.close();
await source?.victim.close();

console.log(await writeResults());

/** robustness.json and robustness.md as far as the run has got (rewritten after every row). */
async function writeResults(): Promise<string> {
  const result = { model: bundle.dir, data: dbFile, images: N, steps, seed, eot: Number(v.eot), clean: cleanRows, rows };
  await fs.mkdir(v.out, { recursive: true });
  await writeAtomic(path.join(v.out, 'robustness.json'), `${JSON.stringify(result, null, 1)}\n`);
  const cell = (x: unknown) => (typeof x === 'number' || typeof x === 'string' ? String(x) : '–');
  const md = [
    `Model ${bundle.dir}, ${N} images of ${dbFile}, L∞ PGD ${steps} steps unless stated, seed ${seed}.`,
    '',
    '| defence | clean macro-F1 |', '|---|---|', ...cleanRows.map((r) => `| ${cell(r.defence)} | ${cell(r.macroF1)} |`),
    '',
    '| defence | mode | goal | ε | method | steps | restarts | check | images | success % | strict % | full-size % | mean L∞ (/255) | mean steps | mean queries |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${[r.defence, r.mode, r.goal, r.eps, r.method, r.steps, r.restarts, r.check, r.attacked, r.success, r.strict, r.fullSize, r.meanLinf, r.meanSteps, r.meanQueries].map(cell).join(' | ')} |`),
  ].join('\n');
  await writeAtomic(path.join(v.out, 'robustness.md'), `${md}\n`);
  return md;
}
