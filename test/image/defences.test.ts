/** The pixel defences on tiny hand-built images, against results worked out by hand (reference/robustness.md §b.3). */
import { describe, expect, test } from 'vitest';
import { bitDepth, gaussianNoise, jpeg, median, resizePad, seededRandom, type DefenceImage } from '../../src/image/index.ts';

const image = (width: number, height: number, value: (x: number, y: number, c: number) => number): DefenceImage => {
  const data = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = value(x, y, c);
  return { data, width, height };
};
const at = (im: DefenceImage, x: number, y: number, c: number) => im.data[(y * im.width + x) * 3 + c]!;
const meanAbs = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;
const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('bit-depth', () => {
  test('known values: 1 bit rounds to 0 or 1, 2 bits to thirds', () => {
    const values = [0, 0.2, 0.3, 0.5, 0.7, 0.9, 1];
    const im: DefenceImage = { data: Float32Array.from(values.flatMap((v) => [v, v, v])), width: values.length, height: 1 };
    expect(Array.from(bitDepth(im, 1).data.filter((_, i) => i % 3 === 0))).toEqual([0, 0, 0, 1, 1, 1, 1]);
    // round(v·3)/3: 0.2 → 1/3, 0.3 → 1/3, 0.5 → round(1.5) = 2 → 2/3, 0.7 → 2/3, 0.9 → 1
    const two = Array.from(bitDepth(im, 2).data.filter((_, i) => i % 3 === 0));
    [0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1, 1].forEach((v, i) => expect(two[i]).toBeCloseTo(v, 6));
    // 8 bits keeps byte values exactly
    const bytes: DefenceImage = { data: Float32Array.from([0, 17, 128, 255, 3, 200], (b) => b / 255), width: 2, height: 1 };
    expect(maxAbs(bitDepth(bytes, 8).data, bytes.data)).toBeLessThan(1e-7);
  });
});

describe('median', () => {
  // the 5×5 ramp 1…25 with an outlier of 100 in the centre, /100; channel 1 constant, channel 2 the ramp reversed
  const ramp = image(5, 5, (x, y, c) => {
    const v = y * 5 + x + 1;
    return c === 0 ? (v === 13 ? 100 : v) / 100 : c === 1 ? 0.5 : (26 - v) / 100;
  });
  const out = median(ramp, 3);

  test('3×3 on a 5×5 example, border replicated, against a hand result', () => {
    // (2,2): 7 8 9 12 100 14 17 18 19 → 14; (1,1): 1 2 3 6 7 8 11 12 100 → 7
    // (0,0): rows {0,0,1} × cols {0,0,1}: 1 1 2 1 1 2 6 6 7 → 2; (2,0): 2 3 4 2 3 4 7 8 9 → 4; (4,4): 19 20 20 24 25 25 24 25 25 → 24
    // (3,2): 8 9 10 100 14 15 18 19 20 → 15; (1,2): 6 7 8 11 12 100 16 17 18 → 12
    const hand: [number, number, number][] = [[2, 2, 14], [1, 1, 7], [0, 0, 2], [2, 0, 4], [4, 4, 24], [3, 2, 15], [1, 2, 12]];
    for (const [x, y, v] of hand) expect(at(out, x, y, 0)).toBeCloseTo(v / 100, 6);
    // the outlier is gone, and the other channels are filtered on their own
    expect(at(out, 2, 2, 0)).toBeLessThan(0.2);
    for (let i = 0; i < 25; i++) expect(out.data[i * 3 + 1]).toBe(0.5);
    // channel 2 is 26 − channel 0's ramp without the outlier: at (0,0) the window 25 25 24 25 25 24 20 20 19 → 24
    expect(at(out, 0, 0, 2)).toBeCloseTo(0.24, 6);
  });

  test('does not write its input', () => {
    expect(at(ramp, 2, 2, 0)).toBeCloseTo(1, 6);
  });
});

describe('jpeg', () => {
  const smooth = image(32, 32, (x, y, c) => (c === 0 ? x / 31 : c === 1 ? y / 31 : 0.5 + 0.3 * Math.sin((x + y) / 6)));

  test('a round trip at quality 90 stays close; lower quality moves further', async () => {
    const q90 = await jpeg(smooth, 90), q10 = await jpeg(smooth, 10);
    expect(q90.width).toBe(32);
    expect(meanAbs(q90.data, smooth.data)).toBeLessThan(0.01);
    expect(maxAbs(q90.data, smooth.data)).toBeLessThan(0.08);
    expect(meanAbs(q10.data, smooth.data)).toBeGreaterThan(2 * meanAbs(q90.data, smooth.data));
    // decoded bytes: every value is a multiple of 1/255
    expect(q90.data.every((v) => Math.abs(v * 255 - Math.round(v * 255)) < 1e-4)).toBe(true);
  });

  test('nearly idempotent: re-encoding its own output changes far less than the first pass', async () => {
    const once = await jpeg(smooth, 75), twice = await jpeg(once, 75);
    expect(meanAbs(twice.data, once.data)).toBeLessThan(0.003);
    expect(meanAbs(twice.data, once.data)).toBeLessThan(meanAbs(once.data, smooth.data) / 2);
  });
});

describe('noise', () => {
  const grey = image(64, 64, () => 0.5);

  test('mean and σ over 12,288 samples with a fixed seed', () => {
    const out = gaussianNoise(grey, 0.05, seededRandom(3));
    const n = out.data.length, mean = out.data.reduce((s, v) => s + v, 0) / n;
    const sd = Math.sqrt(out.data.reduce((s, v) => s + (v - mean) ** 2, 0) / n);
    expect(mean).toBeCloseTo(0.5, 2);
    expect(Math.abs(sd - 0.05)).toBeLessThan(0.002);
  });

  test('clamped to [0, 1]; the same seed draws the same noise, another seed other noise', () => {
    const dark = image(16, 16, () => 0.01);
    const out = gaussianNoise(dark, 0.2, seededRandom(1));
    expect(out.data.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(out.data.some((v) => v === 0)).toBe(true);
    expect(gaussianNoise(grey, 0.05, seededRandom(9)).data).toEqual(gaussianNoise(grey, 0.05, seededRandom(9)).data);
    expect(gaussianNoise(grey, 0.05, seededRandom(9)).data).not.toEqual(gaussianNoise(grey, 0.05, seededRandom(10)).data);
  });
});

describe('resize-pad', () => {
  test('keeps the size; the content is the image scaled down on a zero canvas', () => {
    const flat = image(40, 30, () => 0.7);
    for (let seed = 0; seed < 5; seed++) {
      const out = resizePad(flat, 0.5, seededRandom(seed));
      expect([out.width, out.height, out.data.length]).toEqual([40, 30, 40 * 30 * 3]);
      const content = out.data.filter((v) => v > 0);
      // a constant image stays constant when area-resized; the rest is padding
      expect(content.every((v) => Math.abs(v - 0.7) < 1e-5)).toBe(true);
      const pixels = content.length / 3;
      expect(pixels).toBeGreaterThanOrEqual(20 * 15);
      expect(pixels).toBeLessThanOrEqual(40 * 30);
    }
  });

  test('the content is a rectangle of the scaled side at a random place, and its mean is the image\'s', () => {
    const ramp = image(40, 40, (x, y) => 0.1 + 0.8 * (x + y) / 78);
    const out = resizePad(ramp, 0.5, seededRandom(4));
    const rows = [...Array(40).keys()].filter((y) => at(out, 20, y, 0) > 0 || [...Array(40).keys()].some((x) => at(out, x, y, 0) > 0));
    const cols = [...Array(40).keys()].filter((x) => rows.some((y) => at(out, x, y, 0) > 0));
    const [h, w] = [rows.length, cols.length];
    expect(h).toBe(w); // aspect kept
    expect(h).toBeLessThan(40);
    expect(rows.at(-1)! - rows[0]! + 1).toBe(h); // one block
    let sum = 0;
    for (const y of rows) for (const x of cols) sum += at(out, x, y, 0);
    expect(sum / (h * w)).toBeCloseTo(0.5, 2); // area averaging keeps the mean of the symmetric ramp
  });

  test('min = 1 is the identity; the same seed gives the same draw', () => {
    const ramp = image(12, 9, (x, y, c) => (x * 9 + y + c) / 120);
    expect(maxAbs(resizePad(ramp, 1, seededRandom(1)).data, ramp.data)).toBeLessThan(1e-6);
    expect(resizePad(ramp, 0.3, seededRandom(5)).data).toEqual(resizePad(ramp, 0.3, seededRandom(5)).data);
  });
});
