/**
 * Training augmentation, DeepDanbooru's first (reference/deepdanbooru.md §4.2): fit into size·scale_max with
 * the area resize, then one affine warp (scale, rotation about the centre, shift) sampled bilinearly with
 * edge replication. tagbooru adds optional horizontal flips and re-encoding corruption (JPEG quality,
 * down-up scaling, noise). No hue or saturation changes: they would corrupt colour tags.
 */
import { jpegRoundTrip, type DecodedImage } from './decode.ts';
import { dropAlpha } from './preprocess.ts';
import type { Raster } from './raster.ts';
import { resizeArea, tfFitSize } from './resize-area.ts';

export type Range = readonly [number, number] | null;

export interface AugmentOptions {
  readonly rotation: Range; // degrees
  readonly scale: Range;
  readonly shift: Range; // fraction of the size
  readonly flip: boolean;
  /** Probability of one corruption (JPEG, down-up scaling or noise) per sample. */
  readonly corruption: number;
}

/** Uniform [0, 1): the caller's seeded generator, so a resumed run repeats every draw. */
export type Random = () => number;

const uniform = (random: Random, r: readonly [number, number]) => r[0] + (r[1] - r[0]) * random();

/** Bilinear sample of channel c at (x, y), pixel centres on integers, indices clamped (skimage mode="edge"). */
function sample(src: Raster, x: number, y: number, c: number): number {
  const { width: w, height: h, data } = src;
  const x0 = Math.floor(x), y0 = Math.floor(y), fx = x - x0, fy = y - y0;
  const cx0 = Math.min(Math.max(x0, 0), w - 1), cx1 = Math.min(Math.max(x0 + 1, 0), w - 1);
  const cy0 = Math.min(Math.max(y0, 0), h - 1), cy1 = Math.min(Math.max(y0 + 1, 0), h - 1);
  const a = data[(cy0 * w + cx0) * 3 + c]!, b = data[(cy0 * w + cx1) * 3 + c]!;
  const d = data[(cy1 * w + cx0) * 3 + c]!, e = data[(cy1 * w + cx1) * 3 + c]!;
  return (a * (1 - fx) + b * fx) * (1 - fy) + (d * (1 - fx) + e * fx) * fy;
}

/** The affine warp to width×height, float 0–255, with DeepDanbooru's parameter draws. */
export function warp(image: Raster, width: number, height: number, o: AugmentOptions, random: Random): Raster & { data: Float32Array } {
  const sMax = o.scale ? o.scale[1] : 1;
  const fit = tfFitSize(image.width, image.height, Math.floor(width * sMax), Math.floor(height * sMax));
  const src = resizeArea(image, fit.width, fit.height);
  const scale = o.scale ? uniform(random, o.scale) / sMax : 1;
  const theta = o.rotation ? (uniform(random, o.rotation) * Math.PI) / 180 : 0;
  const shiftX = o.shift ? uniform(random, o.shift) * width : 0;
  const shiftY = o.shift ? uniform(random, o.shift) * height : 0;
  const flip = o.flip && random() < 0.5;
  // out = R·S·(p − c_src) + c_out + shift, so p = S⁻¹·R⁻¹·(out − c_out − shift) + c_src
  const cos = Math.cos(theta), sin = Math.sin(theta);
  // DeepDanbooru centres at w/2 (skimage: pixel centres on integers), not (w − 1)/2
  const cxs = src.width / 2, cys = src.height / 2, cxo = width / 2, cyo = height / 2;
  const out = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const dx = (flip ? width - 1 - x : x) - cxo - shiftX, dy = y - cyo - shiftY;
      const sx = (cos * dx + sin * dy) / scale + cxs, sy = (-sin * dx + cos * dy) / scale + cys;
      for (let c = 0; c < 3; c++) out[(y * width + x) * 3 + c] = sample(src, sx, sy, c);
    }
  }
  return { data: out, width, height };
}

async function corrupt(image: Raster & { data: Float32Array }, random: Random): Promise<void> {
  const { width, height, data } = image;
  const kind = Math.floor(random() * 3);
  if (kind === 0) {
    const bytes = Uint8Array.from(data, (v) => Math.min(255, Math.max(0, Math.round(v))));
    data.set(await jpegRoundTrip(bytes, width, height, Math.round(20 + 60 * random())));
  } else if (kind === 1) {
    const f = 0.35 + 0.45 * random();
    const small = resizeArea(image, Math.max(1, Math.round(width * f)), Math.max(1, Math.round(height * f)));
    // back up with bilinear sampling: the soft look of an upscaled thumbnail
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) {
      data[(y * width + x) * 3 + c] = sample(small, ((x + 0.5) * small.width) / width - 0.5, ((y + 0.5) * small.height) / height - 0.5, c);
    }
  } else {
    const sigma = 2 + 8 * random();
    for (let i = 0; i < data.length; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - random())), a = 2 * Math.PI * random();
      data[i] = Math.min(255, Math.max(0, data[i]! + sigma * r * Math.cos(a)));
      if (i + 1 < data.length) data[i + 1] = Math.min(255, Math.max(0, data[i + 1]! + sigma * r * Math.sin(a)));
    }
  }
}

/** A training sample: NHWC RGB floats in [0, 1] written at `out[offset…]`. */
export async function augmentImage(image: DecodedImage, width: number, height: number, o: AugmentOptions, random: Random, out: Float32Array, offset = 0): Promise<void> {
  // alpha is dropped, not composited, as TensorFlow's decode_png(channels=3) does in the original pipeline
  const warped = warp(dropAlpha(image, { alpha: 'strip', background: [0, 0, 0] }), width, height, o, random);
  if (o.corruption > 0 && random() < o.corruption) await corrupt(warped, random);
  const { data } = warped;
  for (let i = 0; i < data.length; i++) out[offset + i] = data[i]! / 255;
}
