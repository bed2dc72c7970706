/**
 * Calibration of several bundles on one held-out database, as one table: ECE (macro, micro), Brier (micro,
 * macro), micro-F1 at each bundle's thresholds and mAP; and the ECE a perfectly calibrated model would still
 * show on this many images (its labels drawn as Bernoulli(score) from the same scores, 200 draws): binned ECE
 * is biased upwards on a finite sample, so a figure near that floor cannot be told from perfect.
 * Usage: node --import tsx bench/calibration-eval.ts <held-out dataset.sqlite> <name=bundle>… [--uncalibrated name=bundle]
 */
import { parseArgs } from 'node:util';
import { TrainingDatabase } from '../src/data/training-db.ts';
import { readBundle, type Bundle } from '../src/infer/bundle.ts';
import { createTagger } from '../src/tagger.ts';
import { computeCalibrationMetrics } from '../src/train/calibration-metrics.ts';
import { computeMetrics } from '../src/train/metrics.ts';

const { values: v, positionals } = parseArgs({ allowPositionals: true, options: { draws: { type: 'string', default: '200' } } });
const [database, ...named] = positionals;
if (!database || named.length === 0) throw new Error('usage: calibration-eval.ts <held-out dataset.sqlite> <name=bundle>…');

const db = TrainingDatabase.open(database, { readonly: true });
const records = [...db.records()];
db.close();

async function score(bundle: Bundle): Promise<Float32Array> {
  const tagger = await createTagger(bundle);
  try {
    const T = bundle.manifest.tags.length, out = new Float32Array(records.length * T);
    let i = 0;
    for await (const r of tagger.stream(records.map((x) => x.path), { scores: true, batchSize: 16 })) {
      if (!r.scores) throw new Error(`${r.file}: ${r.error}`);
      out.set(r.scores, i++ * T);
    }
    return out;
  } finally {
    await tagger.close();
  }
}

/** Mulberry32, so the floor is the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Mean and 95th percentile of the macro ECE of labels drawn from the scores themselves. */
function floor(probs: Float32Array, T: number, draws: number): [number, number] {
  const r = rng(1), y = new Float32Array(probs.length), eces: number[] = [];
  for (let d = 0; d < draws; d++) {
    for (let k = 0; k < probs.length; k++) y[k] = r() < probs[k]! ? 1 : 0;
    eces.push(computeCalibrationMetrics(probs, y, T).eceMacro);
  }
  eces.sort((a, b) => a - b);
  return [eces.reduce((s, e) => s + e, 0) / draws, eces[Math.floor(0.95 * (draws - 1))]!];
}

const f = (x: number) => x.toFixed(4);
const pct = (x: number) => (100 * x).toFixed(1);
console.log(`${records.length} images of ${database}\n`);
console.log('| bundle | ECE macro | ECE micro | Brier micro | Brier macro | micro-F1 | mAP | ECE macro of a calibrated model (mean · 95th pct) |');
console.log('|---|---|---|---|---|---|---|---|');
for (const entry of named) {
  const [name, dir] = entry.includes('=') ? [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)] : [entry, entry];
  const bundle = await readBundle(dir);
  const names = bundle.manifest.tags.map((t) => t.name), T = names.length, index = new Map(names.map((n, j) => [n, j]));
  const labels = new Float32Array(records.length * T);
  records.forEach((rec, i) => rec.tags.forEach((t) => index.has(t) && (labels[i * T + index.get(t)!] = 1)));
  const probs = await score(bundle);
  const thresholds = names.map((n) => bundle.manifest.thresholds.tags?.[n] ?? bundle.manifest.thresholds.default);
  const m = computeMetrics(probs, labels, names, thresholds), c = computeCalibrationMetrics(probs, labels, T);
  const [mean, p95] = floor(probs, T, Number(v.draws));
  console.log(`| ${name} | ${f(c.eceMacro)} | ${f(c.eceMicro)} | ${f(c.brierMicro)} | ${f(c.brierMacro)} | ${pct(m.microF1)} | ${pct(m.mAP)} | ${f(mean)} · ${f(p95)} |`);
}
