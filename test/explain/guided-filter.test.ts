/**
 * The guided filter against its definition (He et al. 2010, eq. 5–8) computed directly per window in float64,
 * and the fast refiner against the exact filter; then what it is for: a blob cut at a cell boundary ends at the
 * image's colour edge instead.
 */
import { describe, expect, test } from 'vitest';
import { guidedFilter, guidedRefiner, prepareGuide, rgbPlanes } from '../../src/explain/guided-filter.ts';
import { upsample } from '../../src/explain/postprocess.ts';

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** Solve the 3×3 system m·x = v by Cramer's rule. */
function solve3(m: number[][], v: number[]): number[] {
  const det = (a: number[][]) => a[0]![0]! * (a[1]![1]! * a[2]![2]! - a[1]![2]! * a[2]![1]!) - a[0]![1]! * (a[1]![0]! * a[2]![2]! - a[1]![2]! * a[2]![0]!) + a[0]![2]! * (a[1]![0]! * a[2]![1]! - a[1]![1]! * a[2]![0]!);
  const d = det(m);
  return [0, 1, 2].map((c) => det(m.map((row, r) => row.map((x, k) => (k === c ? v[r]! : x)))) / d);
}

/** The filter by its definition: a linear model per (border-clipped) window, the models covering a pixel averaged. */
function naiveGuidedFilter(rgb: Uint8Array, w: number, h: number, p: Float32Array, r: number, eps: number): Float64Array {
  const I = (i: number, c: number) => rgb[i * 3 + c]! / 255;
  const window = (x: number, y: number) => {
    const px: number[] = [];
    for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) px.push(yy * w + xx);
    return px;
  };
  const models = new Array<{ a: number[]; b: number }>(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const px = window(x, y), n = px.length;
    const mu = [0, 1, 2].map((c) => px.reduce((s, i) => s + I(i, c), 0) / n);
    const pm = px.reduce((s, i) => s + p[i]!, 0) / n;
    const cov = [0, 1, 2].map((a) => [0, 1, 2].map((b) => px.reduce((s, i) => s + I(i, a) * I(i, b), 0) / n - mu[a]! * mu[b]! + (a === b ? eps : 0)));
    const cip = [0, 1, 2].map((c) => px.reduce((s, i) => s + I(i, c) * p[i]!, 0) / n - mu[c]! * pm);
    const a = solve3(cov, cip);
    models[y * w + x] = { a, b: pm - a[0]! * mu[0]! - a[1]! * mu[1]! - a[2]! * mu[2]! };
  }
  const q = new Float64Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const ws = window(x, y).map((k) => models[k]!), i = y * w + x;
    const mean = (f: (m: { a: number[]; b: number }) => number) => ws.reduce((s, m) => s + f(m), 0) / ws.length;
    q[i] = mean((m) => m.a[0]!) * I(i, 0) + mean((m) => m.a[1]!) * I(i, 1) + mean((m) => m.a[2]!) * I(i, 2) + mean((m) => m.b);
  }
  return q;
}

const randomImage = (w: number, h: number, seed: number) => {
  const rnd = random(seed);
  return { rgb: new Uint8Array(w * h * 3).map(() => Math.floor(rnd() * 256)), map: new Float32Array(w * h).map(() => rnd()) };
};

describe('guided filter', () => {
  test.each([[13, 11, 2, 1e-2], [9, 16, 3, 1e-3], [7, 7, 1, 0.1]])('equals its definition on a random %i×%i image (r %i, ε %f)', (w, h, r, eps) => {
    const { rgb, map } = randomImage(w, h, w * 31 + h);
    const got = guidedFilter(prepareGuide(rgbPlanes(rgb, w * h), w, h, { radius: r, epsilon: eps }), map);
    const want = naiveGuidedFilter(rgb, w, h, map, r, eps);
    // float32 output
    want.forEach((v, i) => expect(Math.abs(got[i]! - v)).toBeLessThan(1e-5));
  });

  test('keeps a constant map, and a map that is a linear function of the colour', () => {
    const w = 20, h = 12, { rgb } = randomImage(w, h, 5);
    const guide = prepareGuide(rgbPlanes(rgb, w * h), w, h, { radius: 3, epsilon: 1e-6 });
    expect(Math.max(...guidedFilter(guide, new Float32Array(w * h).fill(0.7)).map((v) => Math.abs(v - 0.7)))).toBeLessThan(1e-5);
    const linear = new Float32Array(w * h).map((_, i) => 0.3 * (rgb[i * 3]! / 255) - 0.2 * (rgb[i * 3 + 2]! / 255) + 0.1);
    const q = guidedFilter(guide, linear);
    expect(Math.max(...q.map((v, i) => Math.abs(v - linear[i]!)))).toBeLessThan(1e-3);
  });

  test('the refiner at radius < 8 (no subsampling) is the exact filter clipped at 0', () => {
    const w = 24, h = 18, { rgb, map } = randomImage(w, h, 9);
    const centred = map.map((v) => v - 0.5);
    const exact = guidedFilter(prepareGuide(rgbPlanes(rgb, w * h), w, h, { radius: 5, epsilon: 1e-3 }), centred);
    const refined = guidedRefiner(rgb, w, h)(centred, 5);
    refined.forEach((v, i) => expect(v).toBeCloseTo(Math.max(0, exact[i]!), 5));
  });

  test('the fast refiner (subsampled 4×) stays within a few per cent of the exact filter on a smooth map', () => {
    const w = 96, h = 64;
    // smooth colour and map: the regime in which He & Sun's subsampling is lossless
    const rgb = new Uint8Array(w * h * 3).map((_, k) => {
      const i = Math.floor(k / 3), x = i % w, y = Math.floor(i / w), c = k % 3;
      return Math.round(127.5 + 127.5 * Math.sin((x + 2 * y) / (9 + 4 * c)));
    });
    const map = new Float32Array(w * h).map((_, i) => Math.exp(-(((i % w) - 40) ** 2 + (Math.floor(i / w) - 30) ** 2) / 600));
    const exact = guidedFilter(prepareGuide(rgbPlanes(rgb, w * h), w, h, { radius: 16, epsilon: 1e-3 }), map);
    const fast = guidedRefiner(rgb, w, h)(map, 16);
    const err = fast.reduce((s, v, i) => s + Math.abs(v - Math.max(0, exact[i]!)), 0) / fast.length;
    expect(err).toBeLessThan(0.03);
  });

  test('a blob from a coarse grid ends at the colour edge', () => {
    // a red square at x, y ∈ [20, 44) on grey, 64×64; the map lights the 16-px cells it touches (x, y ∈ [16, 48)),
    // upsampled as every method's grid is; radius 8 is half a cell, as postprocess.refineRadius picks
    const w = 64, h = 64, rgb = new Uint8Array(w * h * 3);
    const inside = (x: number, y: number) => x >= 20 && x < 44 && y >= 20 && y < 44;
    for (let i = 0; i < w * h; i++) rgb.set(inside(i % w, Math.floor(i / w)) ? [220, 30, 30] : [128, 128, 128], i * 3);
    const grid = new Float32Array(16);
    for (const k of [5, 6, 9, 10]) grid[k] = 1;
    const blob = upsample({ width: 4, height: 4, data: grid }, w, h);
    const refined = guidedRefiner(rgb, w, h)(blob, 8);
    const iou = (m: Float32Array) => {
      const max = Math.max(...m);
      let and = 0, or = 0;
      m.forEach((v, i) => {
        const a = v >= 0.5 * max, b = inside(i % w, Math.floor(i / w));
        and += +(a && b);
        or += +(a || b);
      });
      return and / or;
    };
    // measured: blob 0.62, refined 1.00
    expect(iou(blob)).toBeLessThan(0.7);
    expect(iou(refined)).toBeGreaterThan(0.95);
  });
});
