/**
 * Metrics per slice of a scored set (`metrics --by style`): the images grouped by one recorded choice, each
 * group scored alone at the same per-tag thresholds as the whole set. Macro F1 and mAP average the tags with
 * at least one known positive in the slice, so a slice is not marked down for tags it never shows.
 */
import { computeMetrics } from './metrics.ts';

export interface SliceRow {
  readonly value: string;
  readonly images: number;
  readonly microF1: number;
  readonly macroF1: number;
  readonly mAP: number;
  /** The tags macro F1 and mAP average over: those with a known positive in the slice. */
  readonly tags: number;
}

export interface SliceTable {
  readonly key: string;
  readonly rows: readonly SliceRow[];
}

/** Where an image's choices lack the key (a post the generator did not make). */
export const UNRECORDED = 'unrecorded';

export interface ScoredSet {
  /** [images × tags] row-major, as computeMetrics takes them. */
  readonly probs: ArrayLike<number>;
  readonly labels: ArrayLike<number>;
  readonly known: ArrayLike<number> | null;
  readonly tagNames: readonly string[];
  readonly thresholds: number | ArrayLike<number>;
}

/** Numbers and buckets (`0.25–0.5`) by their leading number, words alphabetically after them. */
function byValue(a: string, b: string): number {
  const x = Number.parseFloat(a), y = Number.parseFloat(b);
  if (Number.isFinite(x) && Number.isFinite(y) && x !== y) return x - y;
  if (Number.isFinite(x) !== Number.isFinite(y)) return Number.isFinite(x) ? -1 : 1;
  return a.localeCompare(b, 'en');
}

/** One row per slice value, in order (`2` before `10`); `membership[i]` lists image i's values (several: in each). */
export function sliceMetrics(set: ScoredSet, key: string, membership: readonly (readonly string[] | undefined)[]): SliceTable {
  const tags = set.tagNames.length;
  const groups = new Map<string, number[]>();
  membership.forEach((values, i) => {
    for (const v of values ?? [UNRECORDED]) {
      const group = groups.get(v);
      if (group) group.push(i);
      else groups.set(v, [i]);
    }
  });
  const pick = (data: ArrayLike<number>, rows: readonly number[]) => {
    const out = new Float32Array(rows.length * tags);
    rows.forEach((i, k) => {
      for (let j = 0; j < tags; j++) out[k * tags + j] = data[i * tags + j]!;
    });
    return out;
  };
  const values = [...groups.keys()].sort(byValue);
  return {
    key,
    rows: values.map((value) => {
      const rows = groups.get(value)!;
      const m = computeMetrics(pick(set.probs, rows), pick(set.labels, rows), set.tagNames, set.thresholds, set.known && pick(set.known, rows));
      return { value, images: rows.length, microF1: m.microF1, macroF1: m.macroF1, mAP: m.mAP, tags: m.perTag.filter((t) => t.support > 0).length };
    }),
  };
}

export const SLICE_NOTE = 'macro F1 and mAP average the tags with at least one known positive in the slice (column tags); an image in several slices of a key counts in each';

export function formatSliceTable({ key, rows }: SliceTable): string {
  const pct = (v: number) => (Number.isNaN(v) ? '   –  ' : `${(v * 100).toFixed(1).padStart(5)}%`);
  const width = Math.max(key.length + 3, ...rows.map((r) => r.value.length));
  return [
    `${`by ${key}`.padEnd(width)}  images  micro F1  macro F1     mAP  tags`,
    ...rows.map((r) => `${r.value.padEnd(width)}  ${String(r.images).padStart(6)}    ${pct(r.microF1)}    ${pct(r.macroF1)}  ${pct(r.mAP)}  ${String(r.tags).padStart(4)}`),
  ].join('\n');
}
