/**
 * How well scores are calibrated, multi-label: every (image, tag) pair is one binary forecast. Binned expected
 * calibration error with 15 equal-width bins, per tag (then macro over tags) and over all pairs pooled (micro);
 * the Brier score likewise; and the pooled bins for a reliability diagram. Definitions: docs/calibration.md.
 * `probs`, `labels` and the optional `mask` are [samples × tags] row-major; a mask's 0 is an unknown label, left out.
 */

export const ECE_BINS = 15;

export interface ReliabilityBin {
  /** Lower edge; the bin is [low, low + 1/15), the last one closed at 1. */
  readonly low: number;
  readonly count: number;
  /** Mean score of the pairs in the bin (NaN when empty). */
  readonly confidence: number;
  /** Fraction of them labelled positive (NaN when empty). */
  readonly frequency: number;
}

export interface TagCalibrationMetrics {
  readonly pairs: number;
  readonly ece: number;
  readonly brier: number;
}

export interface CalibrationMetrics {
  /** Known (image, tag) pairs. */
  readonly pairs: number;
  /** Mean over tags with at least one known pair of each tag's ECE. */
  readonly eceMacro: number;
  /** ECE of all known pairs binned together. */
  readonly eceMicro: number;
  /** Mean squared error (p − y)² over all known pairs. */
  readonly brierMicro: number;
  /** Mean over tags of each tag's Brier score. */
  readonly brierMacro: number;
  /** The pooled bins (the micro ECE's), for the reliability diagram. */
  readonly bins: readonly ReliabilityBin[];
  readonly perTag: readonly TagCalibrationMetrics[];
}

export const binOf = (p: number) => Math.min(ECE_BINS - 1, Math.max(0, Math.floor(p * ECE_BINS)));

/** Sums per bin: count, Σp, Σy. */
class Bins {
  readonly count = new Float64Array(ECE_BINS);
  readonly score = new Float64Array(ECE_BINS);
  readonly positive = new Float64Array(ECE_BINS);
  brier = 0;
  pairs = 0;

  add(p: number, y: number): void {
    const b = binOf(p);
    this.count[b]!++;
    this.score[b]! += p;
    this.positive[b]! += y;
    this.brier += (p - y) ** 2;
    this.pairs++;
  }

  /** Σ_b (n_b / N)·|ȳ_b − p̄_b|. */
  ece(): number {
    let s = 0;
    for (let b = 0; b < ECE_BINS; b++) if (this.count[b]! > 0) s += Math.abs(this.positive[b]! - this.score[b]!);
    return this.pairs === 0 ? NaN : s / this.pairs;
  }

  list(): ReliabilityBin[] {
    return Array.from({ length: ECE_BINS }, (_, b) => {
      const n = this.count[b]!;
      return { low: b / ECE_BINS, count: n, confidence: n ? this.score[b]! / n : NaN, frequency: n ? this.positive[b]! / n : NaN };
    });
  }
}

export function computeCalibrationMetrics(probs: ArrayLike<number>, labels: ArrayLike<number>, tags: number, mask?: ArrayLike<number>): CalibrationMetrics {
  const n = tags === 0 ? 0 : labels.length / tags;
  const pooled = new Bins();
  const perTag: TagCalibrationMetrics[] = [];
  for (let j = 0; j < tags; j++) {
    const bins = new Bins();
    for (let i = 0; i < n; i++) {
      const k = i * tags + j;
      if (mask && mask[k] === 0) continue;
      const y = labels[k]! > 0.5 ? 1 : 0;
      bins.add(probs[k]!, y);
      pooled.add(probs[k]!, y);
    }
    perTag.push({ pairs: bins.pairs, ece: bins.ece(), brier: bins.pairs ? bins.brier / bins.pairs : NaN });
  }
  const known = perTag.filter((t) => t.pairs > 0);
  const mean = (f: (t: TagCalibrationMetrics) => number) => (known.length ? known.reduce((s, t) => s + f(t), 0) / known.length : NaN);
  return {
    pairs: pooled.pairs,
    eceMacro: mean((t) => t.ece),
    eceMicro: pooled.ece(),
    brierMicro: pooled.pairs ? pooled.brier / pooled.pairs : NaN,
    brierMacro: mean((t) => t.brier),
    bins: pooled.list(),
    perTag,
  };
}

export function formatCalibrationLine(c: CalibrationMetrics): string {
  const f = (v: number) => v.toFixed(4);
  return `calibration (${c.pairs} pairs, ${ECE_BINS} bins)   ECE macro ${f(c.eceMacro)} micro ${f(c.eceMicro)}   Brier macro ${f(c.brierMacro)} micro ${f(c.brierMicro)}`;
}
