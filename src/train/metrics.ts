/**
 * Multi-label metrics: micro/macro precision, recall and F1 at a threshold (or per-tag thresholds), mean
 * average precision over tags, and per-tag thresholds fitted to maximise F1 on a validation split.
 * Each takes an optional `known` mask beside the labels (the training loss mask's shape): an (image, tag)
 * pair with 0 there is unknown, neither positive nor negative, and counts nowhere (TP/FP/FN, support, AP).
 */

export interface TagMetrics {
  readonly tag: string;
  /** Known positives. */
  readonly support: number;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  /** Average precision (area under the precision–recall curve, ranked by score); NaN without positives. */
  readonly ap: number;
  readonly threshold: number;
}

export interface Metrics {
  readonly samples: number;
  readonly microPrecision: number;
  readonly microRecall: number;
  readonly microF1: number;
  readonly macroPrecision: number;
  readonly macroRecall: number;
  readonly macroF1: number;
  /** Mean AP over tags with at least one positive. */
  readonly mAP: number;
  readonly perTag: readonly TagMetrics[];
}

const f1Of = (tp: number, fp: number, fn: number) => (tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn));
const safeDiv = (a: number, b: number) => (b === 0 ? 0 : a / b);

/** 1 where `known` (or no mask) says the pair counts. */
const counts = (known: ArrayLike<number> | null | undefined, k: number) => !known || known[k] !== 0;

/** Average precision of one tag: mean precision at each positive, ranked by descending score; unknown samples are left out of the ranking. */
export function averagePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>, known?: ArrayLike<number> | null): number {
  const idx = Array.from({ length: scores.length }, (_, i) => i).filter((i) => counts(known, i)).sort((a, b) => scores[b]! - scores[a]!);
  let tp = 0, sum = 0, positives = 0;
  for (let r = 0; r < idx.length; r++) {
    if (labels[idx[r]!]! > 0.5) {
      tp++;
      sum += tp / (r + 1);
    }
  }
  for (const i of idx) if (labels[i]! > 0.5) positives++;
  return positives === 0 ? NaN : sum / positives;
}

function column(data: ArrayLike<number>, n: number, tags: number, j: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = data[i * tags + j]!;
  return out;
}

/**
 * `probs`, `labels` and `known` are [samples × tags] row-major. `thresholds` is one number or one per tag.
 * Macro averages run over tags with support (a tag never known present cannot be recalled).
 */
export function computeMetrics(probs: ArrayLike<number>, labels: ArrayLike<number>, tagNames: readonly string[], thresholds: number | ArrayLike<number> = 0.5, known?: ArrayLike<number> | null): Metrics {
  const tags = tagNames.length, n = tags === 0 ? 0 : labels.length / tags;
  let TP = 0, FP = 0, FN = 0;
  const perTag: TagMetrics[] = [];
  for (let j = 0; j < tags; j++) {
    const t = typeof thresholds === 'number' ? thresholds : thresholds[j]!;
    let tp = 0, fp = 0, fn = 0, support = 0;
    for (let i = 0; i < n; i++) {
      if (!counts(known, i * tags + j)) continue;
      const pos = labels[i * tags + j]! > 0.5, pred = probs[i * tags + j]! >= t;
      if (pos) support++;
      if (pos && pred) tp++;
      else if (pred) fp++;
      else if (pos) fn++;
    }
    TP += tp;
    FP += fp;
    FN += fn;
    perTag.push({ tag: tagNames[j]!, support, precision: safeDiv(tp, tp + fp), recall: safeDiv(tp, tp + fn), f1: f1Of(tp, fp, fn), ap: averagePrecision(column(probs, n, tags, j), column(labels, n, tags, j), known && column(known, n, tags, j)), threshold: t });
  }
  const supported = perTag.filter((m) => m.support > 0);
  const mean = (f: (m: TagMetrics) => number) => (supported.length ? supported.reduce((s, m) => s + f(m), 0) / supported.length : 0);
  return {
    samples: n,
    microPrecision: safeDiv(TP, TP + FP),
    microRecall: safeDiv(TP, TP + FN),
    microF1: f1Of(TP, FP, FN),
    macroPrecision: mean((m) => m.precision),
    macroRecall: mean((m) => m.recall),
    macroF1: mean((m) => m.f1),
    mAP: mean((m) => m.ap),
    perTag,
  };
}

/**
 * For each tag, the threshold that maximises its F1 on (validation) data, searched over the observed
 * scores of its known samples; tags without known positives keep `fallback` (one number or one per tag). Ties go
 * to the higher threshold (fewer false positives).
 */
export function fitThresholds(probs: ArrayLike<number>, labels: ArrayLike<number>, tags: number, fallback: number | ArrayLike<number> = 0.5, known?: ArrayLike<number> | null): Float32Array {
  const all = labels.length / tags;
  const out = typeof fallback === 'number' ? new Float32Array(tags).fill(fallback) : Float32Array.from(fallback);
  for (let j = 0; j < tags; j++) {
    const s = column(probs, all, tags, j), y = column(labels, all, tags, j);
    const idx = Array.from({ length: all }, (_, i) => i).filter((i) => counts(known, i * tags + j)).sort((a, b) => s[b]! - s[a]!);
    const n = idx.length;
    const positives = idx.reduce((a, i) => a + (y[i]! > 0.5 ? 1 : 0), 0);
    if (positives === 0) continue;
    let tp = 0, fp = 0, best = -1;
    for (let r = 0; r < n; r++) {
      if (y[idx[r]!]! > 0.5) tp++;
      else fp++;
      // a cut just below score r includes exactly the top r+1 (equal scores must fall together)
      if (r + 1 < n && s[idx[r + 1]!] === s[idx[r]!]) continue;
      const f = f1Of(tp, fp, positives - tp);
      if (f > best) {
        best = f;
        const next = r + 1 < n ? s[idx[r + 1]!]! : 0;
        out[j] = (s[idx[r]!]! + next) / 2;
      }
    }
  }
  return out;
}

export function formatMetricsTable(m: Metrics): string {
  const pct = (v: number) => (Number.isNaN(v) ? '   –  ' : `${(v * 100).toFixed(1).padStart(5)}%`);
  const width = Math.max(4, ...m.perTag.map((t) => t.tag.length));
  const rows = m.perTag.map((t) => `${t.tag.padEnd(width)}  ${String(t.support).padStart(7)}  ${pct(t.precision)}  ${pct(t.recall)}  ${pct(t.f1)}  ${pct(t.ap)}  ${t.threshold.toFixed(3)}`);
  return [
    `${'tag'.padEnd(width)}  support  precision recall      F1      AP  threshold`,
    ...rows,
    '',
    `samples ${m.samples}   micro P ${pct(m.microPrecision)} R ${pct(m.microRecall)} F1 ${pct(m.microF1)}   macro P ${pct(m.macroPrecision)} R ${pct(m.macroRecall)} F1 ${pct(m.macroF1)}   mAP ${pct(m.mAP)}`,
  ].join('\n');
}
