/**
 * The `knn` score's fit (src/infer/ood.ts): its bank of L2-normalised in-distribution features, and k, the
 * neighbour whose distance is the score, chosen on validation images without any out-of-distribution ones.
 */
import { TagbooruError, invalidOption } from '../errors.ts';
import { bankSimilarities, normalised, unitDistance } from '../infer/ood.ts';

/** The k tried when none is given; those above the bank's rows are left out. */
export const K_CANDIDATES = [1, 2, 3, 5, 10, 20, 50, 100] as const;

/** At most `size` of `items`, evenly spaced from the first to the last (all of them when there are no more). */
export function evenlySpaced<T>(items: readonly T[], size: number): T[] {
  if (items.length <= size) return [...items];
  if (size === 1) return [items[0]!];
  return Array.from({ length: size }, (_, i) => items[Math.round((i * (items.length - 1)) / (size - 1))]!);
}

/** The bank: at most `size` feature vectors, evenly spaced through `features`, each L2-normalised, row-major. */
export function fitKnnBank(features: readonly ArrayLike<number>[], size: number): { bank: Float32Array; rows: number } {
  const rows = evenlySpaced(features, size), c = rows[0]?.length ?? 0;
  if (c === 0) throw new TagbooruError('E_USAGE', 'a knn bank needs at least one feature vector');
  const bank = new Float32Array(rows.length * c);
  rows.forEach((f, r) => bank.set(normalised(f), r * c));
  return { bank, rows: rows.length };
}

/** The q-quantile of ascending `sorted`, interpolating linearly between order statistics (position q·(n − 1)). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const at = Math.min(1, Math.max(0, q)) * (sorted.length - 1), lo = Math.floor(at), hi = Math.ceil(at);
  return sorted[lo]! + (at - lo) * (sorted[hi]! - sorted[lo]!);
}

/**
 * How loosely the validation scores pin their threshold down: the spread of the scores across the threshold's
 * quantile, Q(p + 0.01) − Q(p − 0.01) for p = 1 − flagRate, over their interquartile range. A quantile's
 * standard error is inversely proportional to the density there, so a smaller value is a threshold whose flag
 * rate holds better on new images, relative to how far apart in-distribution images score anyway.
 */
export function thresholdLooseness(scores: readonly number[], flagRate: number): number {
  const sorted = [...scores].sort((a, b) => a - b), p = 1 - flagRate;
  const iqr = quantile(sorted, 0.75) - quantile(sorted, 0.25);
  return iqr > 0 ? (quantile(sorted, p + 0.01) - quantile(sorted, p - 0.01)) / iqr : Infinity;
}

/**
 * k for the bank: `given` when there is one (checked against the bank's rows), else the candidate whose
 * threshold the validation images pin down best (`thresholdLooseness`, the smaller k on a tie). The
 * out-of-distribution sets play no part: only in-distribution images are at hand when a bundle is fitted.
 */
export function chooseK(bank: { readonly bank: Float32Array; readonly rows: number }, validation: readonly ArrayLike<number>[], flagRate: number, given?: number): { k: number; why: string } {
  const { rows } = bank;
  if (given !== undefined) {
    if (!(Number.isInteger(given) && given >= 1 && given <= rows)) throw invalidOption('--k', `an integer between 1 and ${rows} (the knn bank's rows)`, given);
    return { k: given, why: 'given' };
  }
  const sims = validation.map((f) => bankSimilarities(f, bank));
  const candidates = K_CANDIDATES.filter((k) => k <= rows);
  const looseness = candidates.map((k) => thresholdLooseness(sims.map((s) => unitDistance(s[k - 1]!)), flagRate));
  const best = looseness.indexOf(Math.min(...looseness));
  const figures = candidates.map((k, i) => `${k}: ${looseness[i]!.toFixed(3)}`).join(', ');
  return { k: candidates[best]!, why: `the smallest threshold looseness on the validation images (${figures})` };
}
