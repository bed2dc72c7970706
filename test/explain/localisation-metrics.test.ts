import { describe, expect, test } from 'vitest';
import { THRESHOLD_STEPS, accumulate, bestThreshold, newAccumulator, score, thresholdAt, truthOnGrid, type TagAccumulator } from '../../src/explain/localisation-metrics.ts';

/** A w×h truth with the rectangle [x0,x1)×[y0,y1) set. */
function rect(w: number, h: number, [x0, y0, x1, y1]: readonly number[]) {
  const data = new Uint8Array(w * h);
  for (let y = y0!; y < y1!; y++) for (let x = x0!; x < x1!; x++) data[y * w + x] = 1;
  return { width: w, height: h, data };
}

/** A map at half the truth's resolution: `inside` over the rectangle, `outside` elsewhere. */
function halfMap(w: number, h: number, box: readonly number[], inside: number, outside: number) {
  const mw = w / 2, mh = h / 2, data = new Float32Array(mw * mh).fill(outside);
  for (let y = box[1]! / 2; y < box[3]! / 2; y++) for (let x = box[0]! / 2; x < box[2]! / 2; x++) data[y * mw + x] = inside;
  return { width: mw, height: mh, data };
}

describe('localisation metrics', () => {
  test('a map equal to the truth: IoU 1 at every threshold up to its value, strict pointing hit', () => {
    const acc = newAccumulator();
    const box = [4, 4, 12, 8];
    accumulate(acc, halfMap(16, 16, box, 1, 0), rect(16, 16, box), [5, 5], 0);
    for (let i = 0; i < THRESHOLD_STEPS; i++) expect(acc.intersection[i]! / acc.union[i]!).toBe(1);
    expect([acc.hits, acc.strictHits]).toEqual([1, 1]);
  });

  test('IoU at each threshold counts the pixels that clear it, at the truth resolution', () => {
    const acc = newAccumulator();
    // truth 8×4 = 32 px; the map is 0.6 over the truth and 0.3 over everything else (256 px in all)
    accumulate(acc, halfMap(16, 16, [4, 4, 12, 8], 0.6, 0.3), rect(16, 16, [4, 4, 12, 8]), [0, 0], 0);
    const iou = (t: number) => { const i = Math.round(t * (THRESHOLD_STEPS + 1)) - 1; return acc.intersection[i]! / acc.union[i]!; };
    expect(iou(0.3)).toBeCloseTo(32 / 256, 12); // everything clears 0.3
    expect(iou(0.35)).toBe(1);
    expect(iou(0.6)).toBe(1);
    expect(iou(0.65)).toBe(0);
  });

  test('pointing game: a miss outside the tolerance, a hit within it', () => {
    const truth = rect(40, 40, [20, 20, 30, 30]);
    const map = { width: 40, height: 40, data: new Float32Array(1600) };
    const a = newAccumulator(), b = newAccumulator();
    accumulate(a, map, truth, [10, 10], 5);
    accumulate(b, map, truth, [15, 22], 5);
    expect([a.hits, a.strictHits]).toEqual([0, 0]);
    expect([b.hits, b.strictHits]).toEqual([1, 0]);
  });

  test('the threshold comes from the tuning split; mIoU averages tags, pointing counts instances', () => {
    const box = [4, 4, 12, 8];
    const tuning = new Map<string, TagAccumulator>([['hat', newAccumulator()]]);
    accumulate(tuning.get('hat')!, halfMap(16, 16, box, 0.8, 0.4), rect(16, 16, box), [5, 5], 0);
    const t = bestThreshold(tuning);
    expect(thresholdAt(t)).toBeGreaterThan(0.4);
    expect(thresholdAt(t)).toBeLessThanOrEqual(0.8);
    const evaluation = new Map<string, TagAccumulator>([['hat', newAccumulator()], ['glasses', newAccumulator()]]);
    accumulate(evaluation.get('hat')!, halfMap(16, 16, box, 0.8, 0.4), rect(16, 16, box), [5, 5], 0);
    accumulate(evaluation.get('hat')!, halfMap(16, 16, box, 0.8, 0.4), rect(16, 16, box), [5, 5], 0);
    accumulate(evaluation.get('glasses')!, halfMap(16, 16, box, 0, 0), rect(16, 16, [0, 0, 2, 2]), [8, 8], 0);
    const s = score(evaluation, t);
    expect(s.instances).toBe(3);
    expect(s.pointing).toBeCloseTo(2 / 3, 12);
    expect(s.mIoU).toBeCloseTo(0.5, 12); // hat 1, glasses 0
  });
});

describe('the resolution ceiling (truthOnGrid)', () => {
  const iouAtBest = (truth: ReturnType<typeof rect>, cell: number) => {
    const acc = newAccumulator(), best = truthOnGrid(truth, cell);
    accumulate(acc, best.map, truth, best.peak, 0);
    return { best, iou: Math.max(...acc.intersection.map((v, i) => v / acc.union[i]!)), strict: acc.strictHits };
  };

  test('on 1-px cells it is the mask itself', () => {
    const truth = rect(40, 30, [5, 7, 19, 12]);
    const { best, iou, strict } = iouAtBest(truth, 1);
    expect(Array.from(best.map.data)).toEqual(Array.from(truth.data));
    expect([iou, strict]).toEqual([1, 1]);
  });

  test('a region aligned to the cells keeps its peak inside; thin strokes lose most as cells grow', () => {
    const block = iouAtBest(rect(64, 64, [32, 0, 64, 32]), 32);
    expect(block.strict).toBe(1);
    expect(block.best.peak[0]).toBeGreaterThanOrEqual(32);
    // a 2-px line across the image: its IoU falls with the cell size
    const line = rect(64, 64, [0, 30, 64, 32]);
    const ious = [4, 8, 16, 32].map((c) => iouAtBest(line, c).iou);
    for (let i = 1; i < ious.length; i++) expect(ious[i]).toBeLessThan(ious[i - 1]!);
    expect(ious[3]).toBeLessThan(0.2);
  });
});
