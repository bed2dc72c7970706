/** Error measures and seeded test data shared by the oracle tests. */
import { Rng } from '../../src/models/random.ts';

/** max |a − b|; Infinity when a value is not finite or the lengths differ, so NaN can never pass. */
export function maxAbsDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let m = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (!Number.isFinite(d)) return Infinity;
    m = Math.max(m, d);
  }
  return m;
}

/** max |a − b| relative to the largest expected magnitude (at least 1): robust where outputs cancel to ~0. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  return maxAbsDiff(actual, expected) / scale;
}

/** Seeded uniform values in [lo, hi), as float32 (what the graph is fed) — the oracle reads the same values. */
export function uniformArray(rng: Rng, n: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.uniform(lo, hi));
}

/** Worst error seen per category; printed at the end of a run when TAGBOORU_REPORT_ERRORS is set. */
export class ErrorLog {
  private readonly worst = new Map<string, number>();
  record(category: string, error: number): number {
    this.worst.set(category, Math.max(this.worst.get(category) ?? 0, error));
    return error;
  }
  print(title: string): void {
    if (!process.env.TAGBOORU_REPORT_ERRORS) return;
    const rows = [...this.worst].map(([k, v]) => `  ${k.padEnd(28)} ${v.toExponential(2)}`);
    console.log(`${title}\n${rows.join('\n')}`);
  }
}
