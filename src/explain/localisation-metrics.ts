/**
 * Scoring maps against ground-truth masks (reference/robustness.md §d): the pointing game (is the map's
 * maximum inside the region, within a tolerance) and the IoU of the thresholded map, accumulated per tag as
 * histograms so every candidate threshold is scored in one pass over the pixels. The threshold is picked on
 * one split and reported on another (Choe et al. 2020: choosing τ on the test data flatters every method).
 */
import { argmax, blockMean, upsample } from './postprocess.ts';
import type { FloatMap } from './types.ts';

/** Candidate thresholds (relative to the map maximum): 0.05, 0.10, …, 0.95. */
export const THRESHOLD_STEPS = 19;
export const thresholdAt = (i: number): number => (i + 1) / (THRESHOLD_STEPS + 1);

/** A ground-truth mask at original image resolution (non-zero = inside). */
export interface TruthMask {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export interface TagAccumulator {
  instances: number;
  hits: number;
  strictHits: number;
  /** Σ over images of |map ≥ τ ∩ truth| and |map ≥ τ ∪ truth|, per candidate τ. */
  readonly intersection: Float64Array;
  readonly union: Float64Array;
}

export const newAccumulator = (): TagAccumulator => ({ instances: 0, hits: 0, strictHits: 0, intersection: new Float64Array(THRESHOLD_STEPS), union: new Float64Array(THRESHOLD_STEPS) });

/**
 * Add one (image, tag) pair. `map` covers the whole image (padding already cropped) at any resolution; it is
 * sampled at each truth pixel (nearest), so the truth keeps its own resolution. `peak` is in truth pixels.
 */
export function accumulate(acc: TagAccumulator, map: FloatMap, truth: TruthMask, peak: readonly [number, number], tolerance: number): void {
  acc.instances++;
  const { width: w, height: h, data: t } = truth;
  const px = Math.min(w - 1, Math.max(0, Math.floor(peak[0]))), py = Math.min(h - 1, Math.max(0, Math.floor(peak[1])));
  if (t[py * w + px]) {
    acc.strictHits++;
    acc.hits++;
  } else if (withinTolerance(truth, px, py, tolerance)) acc.hits++;
  // histogram of map values inside and outside the truth, by the threshold bucket they clear
  const inside = new Float64Array(THRESHOLD_STEPS + 1), outside = new Float64Array(THRESHOLD_STEPS + 1);
  let truthPixels = 0;
  const sx = map.width / w, sy = map.height / h;
  for (let y = 0; y < h; y++) {
    const row = Math.min(map.height - 1, Math.floor((y + 0.5) * sy)) * map.width;
    for (let x = 0; x < w; x++) {
      const v = map.data[row + Math.min(map.width - 1, Math.floor((x + 0.5) * sx))]!;
      // bucket b: v clears thresholds 0..b−1 (v ≥ thresholdAt(i) ⇔ i < floor(v·20))
      const b = Math.min(THRESHOLD_STEPS, Math.max(0, Math.floor(v * (THRESHOLD_STEPS + 1) + 1e-9)));
      if (t[y * w + x]) {
        inside[b]!++;
        truthPixels++;
      } else outside[b]!++;
    }
  }
  // cumulative from the top: pixels clearing threshold i are those in buckets > i
  let cin = 0, cout = 0;
  for (let i = THRESHOLD_STEPS - 1; i >= 0; i--) {
    cin += inside[i + 1]!;
    cout += outside[i + 1]!;
    acc.intersection[i]! += cin;
    acc.union[i]! += truthPixels + cout;
  }
}

/**
 * The truth as the best map a method with `cell`-pixel cells can give: the mask averaged over each cell, then
 * upsampled and scaled by its maximum as every method's map is. Scored like a map, it is the ceiling of that
 * resolution: what no map on that grid can beat, however right its evidence.
 */
export function truthOnGrid(truth: TruthMask, cell: number): { map: FloatMap; peak: [number, number] } {
  const { width, height } = truth;
  const coarse = blockMean(truth.data.map((v) => (v ? 1 : 0)), width, height, cell);
  const gw = Math.ceil(width / cell), gh = Math.ceil(height / cell);
  const data = upsample({ width: gw, height: gh, data: Float32Array.from(coarse) }, gw * cell, gh * cell, [0, 0, width, height]);
  const at = argmax(data), max = data[at]!;
  if (max > 0) for (let i = 0; i < data.length; i++) data[i]! /= max;
  return { map: { width, height, data }, peak: [at % width, Math.floor(at / width)] };
}

function withinTolerance(truth: TruthMask, px: number, py: number, tolerance: number): boolean {
  if (tolerance <= 0) return false;
  const r = Math.ceil(tolerance), r2 = tolerance * tolerance;
  for (let dy = -r; dy <= r; dy++) {
    const y = py + dy;
    if (y < 0 || y >= truth.height) continue;
    for (let dx = -r; dx <= r; dx++) {
      const x = px + dx;
      if (x >= 0 && x < truth.width && dx * dx + dy * dy <= r2 && truth.data[y * truth.width + x]) return true;
    }
  }
  return false;
}

export interface TagScore {
  readonly tag: string;
  readonly instances: number;
  readonly pointing: number;
  readonly pointingStrict: number;
  readonly iou: number;
}

export interface LocalisationScore {
  /** The threshold chosen on the tuning split (relative to each map's maximum). */
  readonly threshold: number;
  readonly instances: number;
  /** hits / instances over all (image, tag) pairs of the evaluation split. */
  readonly pointing: number;
  readonly pointingStrict: number;
  /** Mean over tags of Σ∩ / Σ∪ at the chosen threshold. */
  readonly mIoU: number;
  readonly perTag: TagScore[];
}

const iouAt = (a: TagAccumulator, i: number) => (a.union[i]! > 0 ? a.intersection[i]! / a.union[i]! : 0);

/** The threshold index maximising mIoU over the tags of `tuning`. */
export function bestThreshold(tuning: ReadonlyMap<string, TagAccumulator>): number {
  let best = 0, bestScore = -1;
  for (let i = 0; i < THRESHOLD_STEPS; i++) {
    const accs = [...tuning.values()].filter((a) => a.instances > 0);
    const score = accs.reduce((s, a) => s + iouAt(a, i), 0) / Math.max(1, accs.length);
    if (score > bestScore) [best, bestScore] = [i, score];
  }
  return best;
}

export function score(evaluation: ReadonlyMap<string, TagAccumulator>, thresholdIndex: number): LocalisationScore {
  const perTag = [...evaluation].filter(([, a]) => a.instances > 0).map(([tag, a]) => ({
    tag,
    instances: a.instances,
    pointing: a.hits / a.instances,
    pointingStrict: a.strictHits / a.instances,
    iou: iouAt(a, thresholdIndex),
  }));
  const instances = perTag.reduce((s, t) => s + t.instances, 0);
  const hits = [...evaluation.values()].reduce((s, a) => s + a.hits, 0), strict = [...evaluation.values()].reduce((s, a) => s + a.strictHits, 0);
  return {
    threshold: thresholdAt(thresholdIndex),
    instances,
    pointing: instances ? hits / instances : 0,
    pointingStrict: instances ? strict / instances : 0,
    mIoU: perTag.length ? perTag.reduce((s, t) => s + t.iou, 0) / perTag.length : 0,
    perTag,
  };
}
