/**
 * The augmentation pipeline on tiny hand-built images: each op's geometry and pixels, the forward map the
 * label rules use against the warp itself, today's pixels for projects that enable none of the new ops, and
 * determinism per seed.
 */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { augmentImage, type AugmentOptions, type DecodedImage } from '../../src/image/index.ts';
import { toOutput } from '../../src/image/augment-geometry.ts';
import { Rng } from '../../src/models/random.ts';
import { sampleRng } from '../../src/train/loop.ts';
import { hwc, noise, solid } from './_synthetic.ts';

const OFF: AugmentOptions = { rotation: null, scale: null, shift: null, flip: false, corruption: 0 };

/** Plays back `draws`, then 0.5 forever: each test states the random numbers its op takes. */
const scripted = (...draws: number[]) => () => draws.shift() ?? 0.5;
const seeded = (seed: number) => {
  const r = new Rng(seed);
  return () => r.next();
};

/** A white W×H image with a red square [x0, x1) × [y0, y1). */
function square(w: number, h: number, [x0, y0, x1, y1]: readonly number[]): DecodedImage {
  const img = solid(w, h, [255, 255, 255]);
  for (let y = y0!; y < y1!; y++) for (let x = x0!; x < x1!; x++) img.data.set([255, 0, 0], (y * w + x) * 3);
  return img;
}

async function run(image: DecodedImage, o: AugmentOptions, random: () => number, w = image.width, h = image.height) {
  const out = new Float32Array(w * h * 3);
  const result = await augmentImage(image, w, h, o, random, out);
  return { out, ...result };
}

const redAt = (out: Float32Array, w: number, x: number, y: number) => hwc(out, w, x, y, 1) < 0.5;

describe('geometry', () => {
  test('a crop takes the drawn source rectangle and resizes it to the output', async () => {
    const img = square(20, 20, [2, 2, 7, 7]);
    const crop = { probability: 1, area: [0.25, 0.25], ratio: [1, 1] } as const;
    // p, area, ratio, x0 = ⌊0.99·11⌋ = 10, y0 = 10: the bottom-right quarter, which has no red
    const away = await run(img, { ...OFF, ops: { crop } }, scripted(0, 0, 0, 0.99, 0.99));
    expect(away.geometry.crop).toEqual([10, 10, 20, 20]);
    expect(away.applied.has('crop')).toBe(true);
    expect(away.out.every((v) => v === 1)).toBe(true);
    // the top-left quarter, blown up ×2: the square now spans [4, 14)
    const onto = await run(img, { ...OFF, ops: { crop } }, scripted(0, 0, 0, 0, 0));
    expect(onto.geometry.crop).toEqual([0, 0, 10, 10]);
    expect(redAt(onto.out, 20, 5, 5) && redAt(onto.out, 13, 20, 13)).toBe(true);
    expect(redAt(onto.out, 20, 2, 2) || redAt(onto.out, 20, 16, 16)).toBe(false);
  });

  test('rotation by 180° about (w/2, h/2), as DeepDanbooru centres it', async () => {
    const img = noise(8, 6, 3, 3);
    const { out } = await run(img, { ...OFF, rotation: [180, 180] }, scripted());
    for (let y = 1; y < 6; y++) for (let x = 1; x < 8; x++) for (let c = 0; c < 3; c++) {
      expect(hwc(out, 8, x, y, c) * 255).toBeCloseTo(img.data[((6 - y) * 8 + (8 - x)) * 3 + c]!, 3);
    }
  });

  test('shift moves the picture by a fraction of the size; flip mirrors it', async () => {
    const img = noise(8, 8, 3, 4);
    const shifted = await run(img, { ...OFF, shift: [0.25, 0.25] }, scripted());
    for (let x = 2; x < 8; x++) expect(hwc(shifted.out, 8, x, 5, 0) * 255).toBeCloseTo(img.data[(3 * 8 + x - 2) * 3]!, 3); // both axes: (x, y) ← (x − 2, y − 2)
    const flipped = await run(img, { ...OFF, flip: true }, scripted(0));
    expect(flipped.applied.has('flip')).toBe(true);
    for (let x = 0; x < 8; x++) expect(hwc(flipped.out, 8, x, 5, 1) * 255).toBeCloseTo(img.data[(5 * 8 + 7 - x) * 3 + 1]!, 3);
    const kept = await run(img, { ...OFF, flip: true }, scripted(0.5));
    expect(kept.applied.has('flip')).toBe(false);
  });

  test('the forward map the label rules use lands where the warp drew the pixel', async () => {
    for (let seed = 0; seed < 8; seed++) {
      const img = square(40, 30, [26, 6, 30, 10]);
      const o: AugmentOptions = { rotation: [0, 360], scale: [0.9, 1.1], shift: [-0.1, 0.1], flip: true, corruption: 0, ops: { crop: { probability: 1, area: [0.5, 1] } } };
      const { out, geometry } = await run(img, o, seeded(seed), 36, 36);
      const p = toOutput(geometry, 27.5, 7.5);
      if (!p || p[0] < 1 || p[1] < 1 || p[0] > 34 || p[1] > 34) continue;
      expect(redAt(out, 36, Math.round(p[0]), Math.round(p[1])), `seed ${seed} at ${p.map((v) => v.toFixed(1)).join(', ')}`).toBe(true);
    }
  });

  test('a cutout paints mid grey over the rectangle it records', async () => {
    const { out, geometry, applied } = await run(solid(10, 10, [255, 255, 255]), { ...OFF, ops: { cutout: { probability: 1, size: [0.3, 0.3] } } }, scripted(0, 0, 0, 0.5, 0.5));
    expect(applied.has('cutout')).toBe(true);
    expect(geometry.cutouts).toEqual([[4, 4, 7, 7]]);
    expect(hwc(out, 10, 5, 5, 0)).toBe(0.5);
    expect(hwc(out, 10, 3, 5, 0)).toBe(1);
  });
});

describe('pixels', () => {
  const one = (name: string, setting: object) => ({ ...OFF, ops: { [name]: { probability: 1, ...setting } } });

  test('greyscale is Rec. 601 luma in every channel', async () => {
    const { out } = await run(solid(2, 2, [200, 100, 50]), one('greyscale', {}), scripted(0));
    const y = (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255;
    for (let c = 0; c < 3; c++) expect(hwc(out, 2, 1, 1, c)).toBeCloseTo(y, 5);
  });

  test('tint puts the luma on a ramp from the ink to white; a greyscaled sample is not tinted as well', async () => {
    // hsl(240°, 0.5, 0.2) is rgb (0.1, 0.1, 0.3)·255
    const ink = { hue: [240, 240], saturation: [0.5, 0.5], lightness: [0.2, 0.2] } as const;
    const black = await run(solid(2, 2, [0, 0, 0]), one('tint', ink), scripted(0));
    [0.1, 0.1, 0.3].forEach((v, k) => expect(hwc(black.out, 2, 1, 1, k)).toBeCloseTo(v, 5));
    const white = await run(solid(2, 2, [255, 255, 255]), one('tint', ink), scripted(0));
    for (let c = 0; c < 3; c++) expect(hwc(white.out, 2, 1, 1, c)).toBeCloseTo(1, 5);
    const y = (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255;
    const mid = await run(solid(2, 2, [200, 100, 50]), one('tint', ink), scripted(0));
    [0.1, 0.1, 0.3].forEach((v, k) => expect(hwc(mid.out, 2, 0, 0, k)).toBeCloseTo(v + (1 - v) * y, 5));
    const both = await run(solid(2, 2, [200, 100, 50]), { ...OFF, ops: { greyscale: { probability: 1 }, tint: { probability: 1, ...ink } } }, scripted(0));
    expect([...both.applied]).toEqual(['greyscale']);
    for (let c = 0; c < 3; c++) expect(hwc(both.out, 2, 1, 1, c)).toBeCloseTo(y, 5);
  });

  test('line art draws the outline of a square dark on white, keeps a flat image white, and never follows greyscale or tint', async () => {
    // a black 4×4 square on white: Sobel magnitudes of 3·255 or more on its border, none well inside or outside it
    const img = solid(12, 12, [255, 255, 255]);
    for (let y = 4; y < 8; y++) for (let x = 4; x < 8; x++) img.data.set([0, 0, 0], (y * 12 + x) * 3);
    const { out, applied } = await run(img, one('lineart', {}), scripted(0));
    expect([...applied]).toEqual(['lineart']);
    for (const [x, y] of [[4, 5], [7, 6], [5, 3], [6, 8]]) for (let c = 0; c < 3; c++) expect(hwc(out, 12, x!, y!, c), `${x},${y}`).toBe(0);
    for (const [x, y] of [[0, 0], [11, 11], [1, 6]]) for (let c = 0; c < 3; c++) expect(hwc(out, 12, x!, y!, c), `${x},${y}`).toBe(1);
    const flat = await run(solid(6, 6, [200, 100, 50]), one('lineart', {}), scripted(0));
    expect(flat.out.every((v) => v === 1)).toBe(true);
    for (const first of ['greyscale', 'tint'] as const) {
      const both = await run(img, { ...OFF, ops: { [first]: { probability: 1 }, lineart: { probability: 1 } } }, scripted(0));
      expect([...both.applied]).toEqual([first]);
    }
  });

  test('screentone inks at and below black, leaves paper at and above white, screens the tones between by darkness, and never follows another rendering', async () => {
    const screen = { black: [40, 40], white: [200, 200], period: [4, 4] } as const;
    const inkShare = async (grey: number) => {
      const { out, applied } = await run(solid(40, 40, [grey, grey, grey]), one('screentone', screen), scripted(0));
      expect([...applied]).toEqual(['screentone']);
      expect(out.every((v) => v === 0 || v === 1), `grey ${grey}: black or white only`).toBe(true);
      return out.filter((v) => v === 0).length / out.length;
    };
    expect(await inkShare(0)).toBe(1);
    expect(await inkShare(40)).toBe(1);
    expect(await inkShare(200)).toBe(0);
    expect(await inkShare(255)).toBe(0);
    const shares = [];
    for (const grey of [160, 120, 80]) shares.push(await inkShare(grey));
    // the order of lightness survives as the density of the dots
    expect(shares[0]).toBeGreaterThan(0.05);
    expect(shares[1]).toBeGreaterThan(shares[0]! + 0.1);
    expect(shares[2]).toBeGreaterThan(shares[1]! + 0.1);
    expect(shares[2]).toBeLessThan(0.95);
    // a colour screens by its luma: Rec. 601 of (200, 100, 50) is 124.2
    expect(Math.abs((await inkShare(124)) - (await run(solid(40, 40, [200, 100, 50]), one('screentone', screen), scripted(0))).out.filter((v) => v === 0).length / (40 * 40 * 3))).toBeLessThan(0.02);
    for (const first of ['greyscale', 'tint', 'lineart'] as const) {
      const both = await run(solid(8, 8, [120, 120, 120]), { ...OFF, ops: { [first]: { probability: 1 }, screentone: { probability: 1, ...screen } } }, scripted(0));
      expect([...both.applied]).toEqual([first]);
    }
  });

  test('brightness scales, contrast scales about the mean grey, both clamp', async () => {
    const b = await run(solid(2, 2, [200, 100, 50]), one('brightness', { factor: [1.5, 1.5] }), scripted(0));
    [255, 150, 75].forEach((v, k) => expect(hwc(b.out, 2, 0, 0, k) * 255).toBeCloseTo(v, 3));
    const c = await run(solid(2, 2, [200, 100, 0]), one('contrast', { factor: [2, 2] }), scripted(0));
    [255, 100, 0].forEach((v, k) => expect(hwc(c.out, 2, 0, 0, k) * 255).toBeCloseTo(v, 3));
  });

  test('blur, downscale, noise and JPEG: blur and downscale keep a flat image; noise and blur change an edge', async () => {
    const flat = solid(12, 12, [90, 120, 150]);
    for (const [name, setting] of [['blur', { sigma: [1, 1] }], ['downscale', { factor: [0.5, 0.5] }]] as const) {
      const { out } = await run(flat, one(name, setting), scripted(0));
      for (let i = 0; i < out.length; i += 3) expect(out[i]! * 255).toBeCloseTo(90, 3);
    }
    const edge = square(12, 12, [0, 0, 6, 12]);
    const blurred = await run(edge, one('blur', { sigma: [1, 1] }), scripted(0));
    expect(hwc(blurred.out, 12, 5, 5, 1)).toBeGreaterThan(0.1);
    expect(hwc(blurred.out, 12, 6, 5, 1)).toBeLessThan(0.9);
    const noisy = await run(flat, one('noise', { sigma: [10, 10] }), seeded(1));
    expect(noisy.out.some((v, i) => Math.abs(v * 255 - [90, 120, 150][i % 3]!) > 5)).toBe(true);
    const jpegged = await run(edge, one('jpeg', { quality: [10, 10] }), scripted(0));
    expect(jpegged.applied.has('jpeg')).toBe(true);
    expect(jpegged.out).not.toEqual((await run(edge, OFF, scripted())).out);
  });
});

describe('reproducibility', () => {
  const ALL: AugmentOptions = {
    rotation: [0, 360], scale: [0.9, 1.1], shift: [-0.1, 0.1], flip: true, corruption: 0,
    ops: { crop: { probability: 0.7 }, cutout: { probability: 0.5 }, greyscale: { probability: 0.5 }, brightness: { probability: 0.5 }, contrast: { probability: 0.5 }, blur: { probability: 0.5 }, downscale: { probability: 0.5 }, noise: { probability: 0.5 } },
  };

  test('the draws are a function of (seed, epoch, position): the same triple gives the same pixels and ops', async () => {
    const img = noise(30, 24, 3, 9);
    const aRng = sampleRng(7, 2, 13), bRng = sampleRng(7, 2, 13);
    const x = await run(img, ALL, () => aRng.next(), 20, 20), y = await run(img, ALL, () => bRng.next(), 20, 20);
    expect(y.out).toEqual(x.out);
    expect([...y.applied]).toEqual([...x.applied]);
    expect(y.geometry).toEqual(x.geometry);
    const other = sampleRng(7, 3, 13);
    expect((await run(img, ALL, () => other.next(), 20, 20)).out).not.toEqual(x.out);
  });

  test('neighbouring samples draw independently: over an epoch a crop at probability 0.5 is taken about half the time, at areas and angles spread over their ranges', async () => {
    // with raw (seed, epoch, position) state words every sample's first two draws were near 0: all cropped, at the smallest area
    const o: AugmentOptions = { ...ALL, ops: { crop: { probability: 0.5, area: [0.2, 1] } } };
    const img = noise(16, 16, 3, 1);
    const n = 400;
    let cropped = 0, largeArea = 0, angles = 0;
    for (let position = 0; position < n; position++) {
      const rng = sampleRng(1, 0, position);
      const { applied, geometry } = await run(img, o, () => rng.next(), 8, 8);
      if (applied.has('crop')) {
        cropped++;
        const [x0, y0, x1, y1] = geometry.crop;
        if ((x1 - x0) * (y1 - y0) > 0.6 * 256) largeArea++;
      }
      if (geometry.warp.theta > Math.PI) angles++;
    }
    // binomial(400, 0.5): sd 10, so 0.4–0.6 is five sd either side
    expect(cropped / n).toBeGreaterThan(0.4);
    expect(cropped / n).toBeLessThan(0.6);
    expect(largeArea / cropped).toBeGreaterThan(0.3); // area uniform in [0.2, 1]: about half above 0.6 (aspect clipping aside)
    expect(angles / n).toBeGreaterThan(0.4); // rotation uniform in [0°, 360°): half above 180°
    expect(angles / n).toBeLessThan(0.6);
    for (const epoch of [0, 7]) {
      const first = Array.from({ length: n }, (_, position) => sampleRng(3, epoch, position).next());
      expect(first.filter((v) => v < 0.5).length / n).toBeGreaterThan(0.4);
      expect(first.filter((v) => v < 0.5).length / n).toBeLessThan(0.6);
    }
  });

  // sha256 of the float32 outputs of six seeds, taken from the augmentation before tagbooru's ops existed
  // (commit 4e9bf14): a project that enables none of them must see the very same pixels
  test.each([
    ['DeepDanbooru\'s defaults', { rotation: [0, 360], scale: [0.9, 1.1], shift: [-0.1, 0.1], flip: false, corruption: 0 }, 'abeaa3f77f6cb9b4'],
    ['the default model\'s project', { rotation: [-10, 10], scale: [0.9, 1.1], shift: [-0.05, 0.05], flip: true, corruption: 0 }, '47f044be39ba23dd'],
  ] as const)('%s: the pixels of before', async (_, o, digest) => {
    const img = noise(37, 29, 3, 5);
    const h = createHash('sha256');
    for (let seed = 0; seed < 6; seed++) {
      const { out } = await run(img, o, seeded(seed), 24, 20);
      h.update(new Uint8Array(out.buffer));
    }
    expect(h.digest('hex').slice(0, 16)).toBe(digest);
  });
});
