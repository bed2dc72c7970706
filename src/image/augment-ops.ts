/**
 * tagbooru's augmentations beyond DeepDanbooru's affine warp, as one table: each op's parameters with their
 * default ranges and the bounds a project may set (project.json's "augmentation" is validated against it),
 * and the pixel ops themselves on float HWC 0–255 images. Label effects live with the training data
 * (train/label-rules.ts), not here: this file only knows pixels.
 */
import { luma } from './colour.ts';
import { jpegRoundTrip } from './decode.ts';
import type { Raster } from './raster.ts';
import { resizeArea } from './resize-area.ts';

export interface ParamSpec {
  /** Drawn uniformly from this range unless the project sets another. */
  readonly range: readonly [number, number];
  /** The widest range a project may set. */
  readonly bounds: readonly [number, number];
  readonly unit: string;
}

export const AUGMENT_OPS = {
  /** Random resized crop: a rectangle of this share of the image area and this width/height ratio. */
  crop: { area: { range: [0.25, 1], bounds: [0.01, 1], unit: 'a fraction of the image area' }, ratio: { range: [0.75, 4 / 3], bounds: [0.1, 10], unit: 'width / height' } },
  /** One rectangle of mid grey; its sides are this share of the output's. */
  cutout: { size: { range: [0.1, 0.35], bounds: [0.01, 1], unit: 'a fraction of the side' } },
  greyscale: {},
  /** The image redrawn in one hue: a ramp from an ink of this HSL hue, saturation and lightness to white (never after greyscale). */
  tint: {
    hue: { range: [0, 360], bounds: [0, 360], unit: 'degrees' },
    saturation: { range: [0.35, 0.8], bounds: [0, 1], unit: 'HSL saturation of the ink' },
    lightness: { range: [0.12, 0.3], bounds: [0, 1], unit: 'HSL lightness of the ink' },
  },
  /** The image redrawn as its outlines, black on white (line-art.ts: the generator's rendering; never after greyscale or tint). */
  lineart: {},
  /** The image printed in black ink alone, as a manga page: solid ink, dots, paper (screentone.ts; never after another rendering). */
  screentone: {
    black: { range: [10, 40], bounds: [0, 255], unit: 'luma (0–255) at and below which the ink is solid' },
    white: { range: [150, 230], bounds: [0, 255], unit: 'luma (0–255) at and above which the paper is bare' },
    period: { range: [3, 5], bounds: [2, 32], unit: 'output pixels between dots' },
  },
  brightness: { factor: { range: [0.75, 1.25], bounds: [0, 4], unit: 'a multiplier' } },
  contrast: { factor: { range: [0.75, 1.25], bounds: [0, 4], unit: 'a multiplier about the mean grey' } },
  blur: { sigma: { range: [0.4, 1.5], bounds: [0, 20], unit: 'Gaussian sigma in output pixels' } },
  downscale: { factor: { range: [0.35, 0.8], bounds: [0.05, 1], unit: 'a fraction of the size' } },
  noise: { sigma: { range: [2, 10], bounds: [0, 100], unit: 'Gaussian sigma in levels of 255' } },
  jpeg: { quality: { range: [20, 80], bounds: [1, 100], unit: 'JPEG quality' } },
} as const satisfies Record<string, Record<string, ParamSpec>>;

export type OpName = keyof typeof AUGMENT_OPS;
export const OP_NAMES = Object.keys(AUGMENT_OPS) as OpName[];

/** An op as a project sets it: how often it applies, and its ranges (missing ones take the table's). */
export interface OpSetting {
  readonly probability: number;
  readonly [param: string]: number | readonly [number, number];
}

/** Uniform [0, 1): the caller's seeded generator, so a resumed run repeats every draw. */
export type Random = () => number;

export const uniform = (random: Random, r: readonly [number, number]) => r[0] + (r[1] - r[0]) * random();

/** The range of `param` for `op`: the project's, else the table's. */
export function paramRange(op: OpName, setting: OpSetting, param: string): readonly [number, number] {
  const own = setting[param];
  return Array.isArray(own) ? (own as readonly [number, number]) : (AUGMENT_OPS[op] as Record<string, ParamSpec>)[param]!.range;
}

export type FloatRaster = Raster & { data: Float32Array };

const clamp255 = (v: number) => Math.min(255, Math.max(0, v));

/** Bilinear sample of channel c at (x, y), pixel centres on integers, indices clamped (skimage mode="edge"). */
export function sample(src: Raster, x: number, y: number, c: number): number {
  const { width: w, height: h, data } = src;
  const x0 = Math.floor(x), y0 = Math.floor(y), fx = x - x0, fy = y - y0;
  const cx0 = Math.min(Math.max(x0, 0), w - 1), cx1 = Math.min(Math.max(x0 + 1, 0), w - 1);
  const cy0 = Math.min(Math.max(y0, 0), h - 1), cy1 = Math.min(Math.max(y0 + 1, 0), h - 1);
  const a = data[(cy0 * w + cx0) * 3 + c]!, b = data[(cy0 * w + cx1) * 3 + c]!;
  const d = data[(cy1 * w + cx0) * 3 + c]!, e = data[(cy1 * w + cx1) * 3 + c]!;
  return (a * (1 - fx) + b * fx) * (1 - fy) + (d * (1 - fx) + e * fx) * fy;
}

/** Rec. 601 luma, as PIL's convert("L") computes it. */
export function greyscale({ data }: FloatRaster): void {
  for (let i = 0; i < data.length; i += 3) data[i] = data[i + 1] = data[i + 2] = luma(data, i);
}

export function brightness({ data }: FloatRaster, factor: number): void {
  for (let i = 0; i < data.length; i++) data[i] = clamp255(data[i]! * factor);
}

/** Contrast about the image's mean grey, so a flat image stays as it is. */
export function contrast({ data }: FloatRaster, factor: number): void {
  let mean = 0;
  for (let i = 0; i < data.length; i++) mean += data[i]!;
  mean /= data.length;
  for (let i = 0; i < data.length; i++) data[i] = clamp255(mean + (data[i]! - mean) * factor);
}

/** Separable Gaussian, radius ⌈3σ⌉, edges replicated. */
export function blur(image: FloatRaster, sigma: number): void {
  if (sigma <= 0) return;
  const { width, height, data } = image;
  const r = Math.ceil(3 * sigma);
  const k = Float64Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const total = k.reduce((a, b) => a + b, 0);
  for (let i = 0; i < k.length; i++) k[i]! /= total;
  const tmp = new Float32Array(data.length);
  const pass = (src: Float32Array, dst: Float32Array, horizontal: boolean) => {
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) {
      let s = 0;
      for (let j = -r; j <= r; j++) {
        const xx = horizontal ? Math.min(Math.max(x + j, 0), width - 1) : x, yy = horizontal ? y : Math.min(Math.max(y + j, 0), height - 1);
        s += k[j + r]! * src[(yy * width + xx) * 3 + c]!;
      }
      dst[(y * width + x) * 3 + c] = s;
    }
  };
  pass(data, tmp, true);
  pass(tmp, data, false);
}

/** Down with the area resize, back up bilinearly: the soft look of an upscaled thumbnail. */
export function downscale(image: FloatRaster, factor: number): void {
  const { width, height, data } = image;
  const small = resizeArea(image, Math.max(1, Math.round(width * factor)), Math.max(1, Math.round(height * factor)));
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) {
    data[(y * width + x) * 3 + c] = sample(small, ((x + 0.5) * small.width) / width - 0.5, ((y + 0.5) * small.height) / height - 0.5, c);
  }
}

/** Gaussian noise by Box–Muller, both values of each pair used. */
export function noise({ data }: FloatRaster, sigma: number, random: Random): void {
  for (let i = 0; i < data.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - random())), a = 2 * Math.PI * random();
    data[i] = clamp255(data[i]! + sigma * r * Math.cos(a));
    if (i + 1 < data.length) data[i + 1] = clamp255(data[i + 1]! + sigma * r * Math.sin(a));
  }
}

export async function jpeg(image: FloatRaster, quality: number): Promise<void> {
  const { width, height, data } = image;
  const bytes = Uint8Array.from(data, (v) => Math.min(255, Math.max(0, Math.round(v))));
  data.set(await jpegRoundTrip(bytes, width, height, Math.round(quality)));
}

/** Fills an output rectangle [x0, x1) × [y0, y1) with mid grey. */
export function fillRect({ width, data }: FloatRaster, [x0, y0, x1, y1]: readonly [number, number, number, number]): void {
  for (let y = y0; y < y1; y++) data.fill(127.5, (y * width + x0) * 3, (y * width + x1) * 3);
}
