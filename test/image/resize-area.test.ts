/**
 * DeepDanbooru's preprocessing against oracles written the slow, obvious way from the kernel descriptions
 * (reference/deepdanbooru.md §4.1): TF ResizeArea as overlap lengths, skimage warp as per-pixel bilinear.
 */
import { describe, expect, it } from 'vitest';
import { PRESETS, preprocess, type DecodedImage } from '../../src/image/index.ts';
import type { Raster } from '../../src/image/raster.ts';
import { areaWeights, resizeArea, tfFitSize } from '../../src/image/resize-area.ts';
import { hwc, noise } from './_synthetic.ts';

const f32 = Math.fround;

/**
 * TF ResizeArea: cell [o·s, (o+1)·s) in float32; each source pixel weighs its overlap; indices clamped.
 * NOTE: TF weighs a cell lying strictly inside one pixel by the float32 scale, not by b − a; the two differ by
 * float32 rounding of the bounds, up to 0.008 on the 0–255 scale when upscaling.
 */
const overlap = (i: number, a: number, b: number, s: number): number => (i < a && i + 1 > b ? s : Math.min(i + 1, b) - Math.max(i, a));

function oracleArea(src: Raster, outW: number, outH: number): Float64Array {
  const sx = f32(src.width / outW), sy = f32(src.height / outH);
  const out = new Float64Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    const [y0, y1] = [f32(y * sy), f32((y + 1) * sy)];
    for (let x = 0; x < outW; x++) {
      const [x0, x1] = [f32(x * sx), f32((x + 1) * sx)];
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let i = Math.floor(y0); i < Math.ceil(y1); i++) {
          const wy = overlap(i, y0, y1, sy);
          for (let j = Math.floor(x0); j < Math.ceil(x1); j++) {
            const wx = overlap(j, x0, x1, sx);
            sum += wy * wx * hwc(src.data, src.width, Math.min(j, src.width - 1), Math.min(i, src.height - 1), c);
          }
        }
        out[(y * outW + x) * 3 + c] = sum / (sx * sy);
      }
    }
  }
  return out;
}

/** skimage warp(order=1, mode="edge") placing a w×h image centred on W×H. */
function oracleWarp(src: { data: ArrayLike<number>; width: number; height: number }, outW: number, outH: number): Float64Array {
  const clamp = (v: number, n: number): number => Math.min(Math.max(v, 0), n - 1);
  const at = (x: number, y: number, c: number): number => hwc(src.data, src.width, clamp(x, src.width), clamp(y, src.height), c);
  const out = new Float64Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const r = y + (src.height - outH) / 2, s = x + (src.width - outW) / 2;
      const [r0, s0] = [Math.floor(r), Math.floor(s)];
      const [dr, ds] = [r - r0, s - s0];
      for (let c = 0; c < 3; c++) {
        const top = (1 - ds) * at(s0, r0, c) + ds * at(Math.ceil(s), r0, c);
        const bottom = (1 - ds) * at(s0, Math.ceil(r), c) + ds * at(Math.ceil(s), Math.ceil(r), c);
        out[(y * outW + x) * 3 + c] = (1 - dr) * top + dr * bottom;
      }
    }
  }
  return out;
}

function oracleDeepDanbooru(image: DecodedImage): Float64Array {
  const { width, height } = tfFitSize(image.width, image.height, 512, 512);
  return oracleWarp({ data: oracleArea(image, width, height), width, height }, 512, 512);
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, scale: number, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! * scale - expected[i]!));
  expect(worst).toBeLessThan(tolerance);
}

const row = (t: Float32Array, width: number, y: number): Float32Array => t.subarray(y * width * 3, (y + 1) * width * 3);

/** The rows in [from, to) that differ anywhere from row `y` (an empty list when all are copies). */
function rowsUnlike(t: Float32Array, width: number, from: number, to: number, y: number): number[] {
  const model = row(t, width, y);
  const unlike: number[] = [];
  for (let r = from; r < to; r++) if (row(t, width, r).some((v, i) => v !== model[i])) unlike.push(r);
  return unlike;
}

describe('tfFitSize', () => {
  it.each([
    [1000, 500, 512, 256],
    [500, 1000, 256, 512],
    [333, 500, 341, 512], // 340.992 rounds up
    [1024, 5, 512, 2], // 2.5: half to even goes down
    [1024, 7, 512, 4], // 3.5: half to even goes up
    [1024, 3, 512, 2], // 1.5
    [100, 50, 512, 256], // upscale
    [512, 512, 512, 512],
    [1, 5000, 1, 512], // 0.1024 rounds to 0; one pixel is kept
  ])('%i×%i fits 512×512 as %i×%i', (w, h, ew, eh) => {
    expect(tfFitSize(w, h, 512, 512)).toEqual({ width: ew, height: eh });
  });
});

describe('areaWeights', () => {
  it('gives a cell inside one source pixel the float32 scale, and clamps a float32 overshoot onto the last pixel', () => {
    const up = areaWeights(2, 5); // scale 0.4: output 0 lies inside source pixel 0
    expect(up.weight[up.start[0]!]).toBe(f32(0.4));
    const w = areaWeights(305, 301); // the last cell ends at 305.00003 in float32
    expect(f32(301 * w.scale)).toBeGreaterThan(305);
    expect(w.first[300]! + w.start[301]! - w.start[300]!).toBe(305);
    expect(w.weight.reduce((a, b) => a + b, 0)).toBeCloseTo(305, 3);
  });
});

describe('resizeArea', () => {
  it.each([
    [37, 23, 11, 7],
    [20, 20, 7, 3],
    [9, 5, 40, 17],
    [333, 120, 341, 256],
    [5, 5, 5, 5],
    [1, 1, 3, 2],
  ])('%i×%i → %i×%i matches the naive kernel', (w, h, ow, oh) => {
    const image = noise(w, h, 3, w * h);
    expectClose(resizeArea(image, ow, oh).data, oracleArea(image, ow, oh), 1, 1e-4);
  });

  it('is the identity at the same size', () => {
    const image = noise(16, 9);
    expect(Array.from(resizeArea(image, 16, 9).data)).toEqual(Array.from(image.data));
  });

  it('takes a 4000×3000 image to 512×384 quickly', () => {
    const image = noise(4000, 3000);
    resizeArea(image, 512, 384);
    const before = process.cpuUsage();
    resizeArea(image, 512, 384);
    const { user, system } = process.cpuUsage(before);
    // About 45 ms of CPU once warm; the bound catches a non-separable implementation, which takes seconds.
    expect((user + system) / 1000).toBeLessThan(400);
  });
});

describe('deepdanbooru preset', () => {
  it('1000×500 becomes 512×256 with exactly 128 replicated rows above and below', () => {
    const image = noise(1000, 500);
    const out = preprocess(image, PRESETS.deepdanbooru);
    expect(out.length).toBe(512 * 512 * 3);
    expect(rowsUnlike(out, 512, 0, 128, 128)).toEqual([]);
    expect(rowsUnlike(out, 512, 384, 512, 383)).toEqual([]);
    expect(rowsUnlike(out, 512, 127, 130, 128)).toEqual([129]);
    // Rows 128..383 are the resize itself, unshifted.
    const resized = resizeArea(image, 512, 256).data;
    expectClose(out.subarray(128 * 512 * 3, 384 * 512 * 3), resized, 255, 1e-4);
    expectClose(out, oracleDeepDanbooru(image), 255, 1e-4);
  });

  it('333×500 becomes 341 wide at x-offset −85.5, every column the mean of two resized columns', () => {
    const image = noise(333, 500, 3, 7);
    const out = preprocess(image, PRESETS.deepdanbooru);
    const resized = resizeArea(image, 341, 512).data;
    const col = (x: number): number => Math.min(Math.max(x, 0), 340);
    let worst = 0;
    for (let y = 0; y < 512; y += 17) {
      for (let x = 0; x < 512; x++) {
        for (let c = 0; c < 3; c++) {
          const mean = (hwc(resized, 341, col(x - 86), y, c) + hwc(resized, 341, col(x - 85), y, c)) / 2;
          worst = Math.max(worst, Math.abs(hwc(out, 512, x, y, c) * 255 - mean));
        }
      }
    }
    expect(worst).toBeLessThan(1e-4);
    expectClose(out, oracleDeepDanbooru(image), 255, 1e-4);
  });

  it('upscales 100×50 to 512×256 and pads by edge replication', () => {
    const image = noise(100, 50, 3, 3);
    const out = preprocess(image, PRESETS.deepdanbooru);
    expectClose(out, oracleDeepDanbooru(image), 255, 1e-4);
    expect(rowsUnlike(out, 512, 0, 129, 128)).toEqual([]);
  });

  it('strips alpha without compositing, as decode_png(channels=3) does', () => {
    const image = noise(512, 512, 4);
    const out = preprocess(image, PRESETS.deepdanbooru);
    for (const i of [0, 1, 2, 3001, 777_777]) {
      const pixel = Math.floor(i / 3), c = i % 3;
      expect(out[i]! * 255).toBeCloseTo(image.data[pixel * 4 + c]!, 4);
    }
  });
});
