/**
 * Post-processing against oracles: the upsampling against ONNX Runtime's Resize (linear, half_pixel), the content
 * rectangle against what preprocess actually paints, regions mapped to original pixels by hand, token grids,
 * and DeepDanbooru's saliency post-processing against scipy (fixture made by the script in its header).
 */
import fs from 'node:fs';
import { describe, expect, test } from 'vitest';
import { featurePlanes, tokenGrid } from '../../src/explain/features.ts';
import { contentBounds, toRegion, upsample } from '../../src/explain/postprocess.ts';
import { medianFilter3, normClip } from '../../src/explain/saliency.ts';
import { Graph } from '../../src/graph/index.ts';
import { PRESETS, contentRect, preprocess, type PreprocessSpec } from '../../src/image/index.ts';
import { ModelSession } from '../../src/infer/session.ts';
import { Rng } from '../../src/models/random.ts';

describe('upsample', () => {
  test.each([[4, 4, 32, 32], [5, 3, 160, 96], [7, 7, 13, 29]])('%i×%i → %i×%i equals ORT Resize(linear, half_pixel)', async (w, h, W, H) => {
    const rng = new Rng(w * h);
    const data = Float32Array.from({ length: w * h }, () => rng.uniform(-2, 2));
    const g = new Graph('resize');
    const x = g.input('x', 'float32', [1, 1, h, w]);
    const y = g.op('Resize', [x, null, null, g.ints([1, 1, H, W])], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' }, [1, 1, H, W]);
    g.output(y, 'y');
    const session = await ModelSession.create(g.toModel(), { threads: 1, spinning: false });
    const ort = (await session.run({ x: { data: data.slice(), dims: [1, 1, h, w] } })).y!.data;
    await session.release();
    const ours = upsample({ width: w, height: h, data }, W, H);
    expect(ours.length).toBe(ort.length);
    let worst = 0;
    ours.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - ort[i]!))));
    expect(worst).toBeLessThan(1e-5);
    // a window of the canvas is the same pixels
    const part = upsample({ width: w, height: h, data }, W, H, [3, 2, 9, 7]);
    expect(Array.from(part)).toEqual(Array.from({ length: 30 }, (_, i) => ours[(2 + Math.floor(i / 6)) * W + 3 + (i % 6)]!));
  });
});

describe('contentRect: where preprocess puts the image', () => {
  // a white image on a black pad colour: the white pixels are the content
  const white = (w: number, h: number) => ({ data: new Uint8Array(w * h * 3).fill(255), width: w, height: h, channels: 3 as const });
  const painted = (spec: PreprocessSpec, w: number, h: number) => {
    const x = preprocess(white(w, h), spec);
    let x0 = spec.width, y0 = spec.height, x1 = 0, y1 = 0;
    for (let y = 0; y < spec.height; y++) for (let xx = 0; xx < spec.width; xx++) {
      const i = spec.layout === 'NHWC' ? (y * spec.width + xx) * 3 : y * spec.width + xx;
      if (x[i]! > 0.5 * x.reduce((m, v) => Math.max(m, v), 0)) [x0, y0, x1, y1] = [Math.min(x0, xx), Math.min(y0, y), Math.max(x1, xx + 1), Math.max(y1, y + 1)];
    }
    return [x0, y0, x1, y1];
  };
  test.each([
    ['camie fit-then-pad (color)', { ...PRESETS.camie, width: 64, height: 64 }, 100, 50],
    ['camie fit-then-pad (color), portrait', { ...PRESETS.camie, width: 64, height: 48 }, 30, 90],
    ['wd pad-then-resize', { ...PRESETS.wd, padColor: [0, 0, 0] as const, width: 64, height: 64 }, 100, 40],
    ['stretch', { ...PRESETS.camie, geometry: 'stretch' as const, width: 32, height: 32 }, 100, 40],
  ])('%s', (_, spec, w, h) => {
    expect(contentBounds(contentRect(w, h, spec), spec.width, spec.height)).toEqual(painted(spec, w, h));
  });

  test('deepdanbooru edge padding centres exactly: a half-pixel offset when the difference is odd', () => {
    const spec = { ...PRESETS.deepdanbooru, width: 32, height: 32 };
    expect(contentRect(100, 50, spec)).toEqual({ x: 0, y: 8, width: 32, height: 16 });
    expect(contentRect(33, 100, spec)).toEqual({ x: 10.5, y: 0, width: 11, height: 32 });
  });

  test('the image size is checked', () => {
    expect(() => contentRect(0, 10, PRESETS.deepdanbooru)).toThrow('Expected integer between 1 and 2147483647 for width but received 0 of type number');
  });
});

describe('toRegion', () => {
  // a 4×8 grid (cells 8×4 px) over a 32×32 input whose content is rows 8–24 (a 200×100 image): a hot cell in the
  // content, a hotter one in the padding above, cropped away
  const grid = { width: 4, height: 8, data: new Float32Array(32) };
  grid.data[3 * 4 + 3] = 2; // input x 24–32, y 12–16: content y 4–8, original x 150–200, y 25–50
  grid.data[0] = 5; // input y 0–4: padding only
  const frame = { input: { width: 32, height: 32 }, bounds: [0, 8, 32, 24] as const, image: { width: 200, height: 100 } };

  test('cropped to the content, scaled by its own maximum, box and peak in original pixels', () => {
    const r = toRegion(grid, frame, 0.5);
    expect([r.map.width, r.map.height]).toEqual([32, 16]);
    expect(Math.max(...r.map.data)).toBeCloseTo(1, 6);
    const [px, py] = r.peak;
    expect(px).toBeGreaterThanOrEqual(150);
    expect(py).toBeGreaterThanOrEqual(25);
    expect(py).toBeLessThan(50);
    const [x0, y0, x1, y1] = r.box!;
    expect(x1).toBe(200);
    expect(x0).toBeGreaterThan(100);
    expect(y0).toBeGreaterThan(0);
    expect(y1).toBeLessThan(100);
    expect(r.mask.reduce((a, b) => a + b, 0)).toBe(r.map.data.filter((v) => v >= 0.5).length);
  });

  test('nothing positive: an all-zero map, an empty mask, no box, the peak still defined', () => {
    const r = toRegion({ width: 2, height: 2, data: Float32Array.from([-1, -3, -0.5, -2]) }, { input: { width: 8, height: 8 }, bounds: [0, 0, 8, 8], image: { width: 8, height: 8 } }, 0.5);
    expect(r.map.data.every((v) => v === 0)).toBe(true);
    expect(r.box).toBeNull();
    expect(r.peak).toEqual([0, 6]); // the least negative cell, bottom left
  });
});

describe('feature layouts', () => {
  test('tokens: a class token first, then a 4×2 grid for an input twice as wide as high, row-major', () => {
    expect(tokenGrid(9, { width: 64, height: 32 })).toEqual({ width: 4, height: 2, prefix: 1 });
    expect(tokenGrid(196, { width: 224, height: 224 })).toEqual({ width: 14, height: 14, prefix: 0 });
    expect(tokenGrid(196 + 5, { width: 224, height: 224 })).toEqual({ width: 14, height: 14, prefix: 5 });
    expect(() => tokenGrid(1000, { width: 32, height: 32 })).toThrow(/sequence of 1000 tokens, which is not a grid/);
    const C = 3, data = new Float32Array(9 * C);
    for (let p = 0; p < 8; p++) for (let c = 0; c < C; c++) data[(1 + p) * C + c] = 10 * c + p;
    const f = featurePlanes({ data, dims: [1, 9, C] }, 'tokens', { window: null }, { width: 64, height: 32 });
    expect([f.channels, f.width, f.height]).toEqual([C, 4, 2]);
    expect(Array.from(f.planes.subarray(8, 16))).toEqual([10, 11, 12, 13, 14, 15, 16, 17]);
  });

  test('NHWC is transposed to channel planes; an AveragePool that is not global is refused', () => {
    const data = Float32Array.from({ length: 2 * 2 * 3 }, (_, i) => i); // [1, 2, 2, 3]
    expect(Array.from(featurePlanes({ data, dims: [1, 2, 2, 3] }, 'NHWC', { window: null }, { width: 8, height: 8 }).planes)).toEqual([0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]);
    expect(() => featurePlanes({ data, dims: [1, 3, 2, 2] }, 'NCHW', { window: [7, 7] }, { width: 8, height: 8 })).toThrow(/AveragePool window 7×7 does not cover its 2×2 feature map/);
  });
});

describe('DeepDanbooru saliency post-processing equals numpy + scipy', () => {
  // made by `python3 test/explain/_scipy-median.py` (numpy 2.4, scipy 1.17): a 13×11×3 gradient with two
  // outliers, DeepDanbooru's norm_clip_grads, then scipy.ndimage.median_filter(norm, 10)
  const o = JSON.parse(fs.readFileSync(new URL('./_scipy-median.json', import.meta.url), 'utf8')) as { width: number; height: number; grad: number[]; norm: number[]; filtered: number[] };
  const worst = (a: Float32Array, b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

  test('clip to the 1st–99th percentile, abs, /max', () => {
    expect(worst(normClip(Float32Array.from(o.grad)), o.norm)).toBeLessThan(1e-6);
  });

  test('median_filter(size=10) over H×W×3, reflect borders, window spanning the channels', () => {
    expect(worst(medianFilter3(Float32Array.from(o.norm), o.width, o.height), o.filtered)).toBeLessThan(1e-6);
  });
});
