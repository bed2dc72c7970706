/**
 * Training augmentation. DeepDanbooru's first (reference/deepdanbooru.md §4.2): fit into size·scale_max with
 * the area resize, then one affine warp (scale, rotation about the centre, shift) sampled bilinearly with
 * edge replication. tagbooru adds a random resized crop before it, an optional horizontal flip within it,
 * and after it the ops of augment-ops.ts in their table's order, plus the older one-of corruption
 * (`corruption_probability`). An op that is off draws no random number, so a project that enables none of
 * tagbooru's ops sees exactly the pixels it saw before they existed. The result says what was done and
 * where every source pixel went, for the label rules (train/label-rules.ts).
 */
import type { DecodedImage } from './decode.ts';
import { hslRgb, toneRamp } from './colour.ts';
import { lineArt } from './line-art.ts';
import { screentone } from './screentone.ts';
import { AUGMENT_OPS, OP_NAMES, blur, brightness, contrast, downscale, fillRect, greyscale, jpeg, noise, paramRange, sample, uniform, type FloatRaster, type OpName, type OpSetting, type Random } from './augment-ops.ts';
import type { Geometry, Rect, WarpParams } from './augment-geometry.ts';
import { dropAlpha } from './preprocess.ts';
import type { Raster } from './raster.ts';
import { resizeArea, tfFitSize } from './resize-area.ts';

export type { Random } from './augment-ops.ts';
export type Range = readonly [number, number] | null;

export interface AugmentOptions {
  readonly rotation: Range; // degrees
  readonly scale: Range;
  readonly shift: Range; // fraction of the size
  readonly flip: boolean;
  /** Probability of one corruption (JPEG, down-up scaling or noise, each with its table range) per sample. */
  readonly corruption: number;
  /** tagbooru's ops; absent or probability 0: off. */
  readonly ops?: Partial<Record<OpName, OpSetting>>;
}

export type AppliedOp = OpName | 'flip';

export interface AugmentResult {
  readonly geometry: Geometry;
  readonly applied: ReadonlySet<AppliedOp>;
}

/** The crop, as a source rectangle: the area share and log-uniform aspect ratio of torchvision's RandomResizedCrop. */
function drawCrop(width: number, height: number, setting: OpSetting, random: Random): Rect {
  const area = uniform(random, paramRange('crop', setting, 'area')) * width * height;
  const [r0, r1] = paramRange('crop', setting, 'ratio');
  const ratio = Math.exp(uniform(random, [Math.log(r0), Math.log(r1)]));
  const w = Math.min(width, Math.max(1, Math.round(Math.sqrt(area * ratio)))), h = Math.min(height, Math.max(1, Math.round(Math.sqrt(area / ratio))));
  const x0 = Math.floor(random() * (width - w + 1)), y0 = Math.floor(random() * (height - h + 1));
  return [x0, y0, x0 + w, y0 + h];
}

function cropRaster(image: Raster, [x0, y0, x1, y1]: Rect): Raster {
  if (x0 === 0 && y0 === 0 && x1 === image.width && y1 === image.height) return image;
  const w = x1 - x0, out = new Uint8Array(w * (y1 - y0) * 3);
  for (let y = y0; y < y1; y++) out.set(image.data.subarray((y * image.width + x0) * 3, (y * image.width + x1) * 3), (y - y0) * w * 3);
  return { data: out, width: w, height: y1 - y0 };
}

/** DeepDanbooru's parameter draws, in its order. */
function drawWarp(o: AugmentOptions, width: number, height: number, random: Random): WarpParams {
  const sMax = o.scale ? o.scale[1] : 1;
  return {
    scale: o.scale ? uniform(random, o.scale) / sMax : 1,
    theta: o.rotation ? (uniform(random, o.rotation) * Math.PI) / 180 : 0,
    shiftX: o.shift ? uniform(random, o.shift) * width : 0,
    shiftY: o.shift ? uniform(random, o.shift) * height : 0,
    flip: o.flip && random() < 0.5,
  };
}

/** The affine warp of the fitted image to width×height, float 0–255. */
function warp(src: Raster, width: number, height: number, { scale, theta, shiftX, shiftY, flip }: WarpParams): FloatRaster {
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

/** The pixel ops after the warp, one entry per op of the table: a missing one does not compile. */
const PIXEL_OPS: { [K in Exclude<OpName, 'crop'>]: (image: FloatRaster, setting: OpSetting, random: Random, cutouts: Rect[]) => void | Promise<void> } = {
  cutout: (image, s, random, cutouts) => {
    const size = paramRange('cutout', s, 'size');
    const w = Math.max(1, Math.round(uniform(random, size) * image.width)), h = Math.max(1, Math.round(uniform(random, size) * image.height));
    const x0 = Math.floor(random() * (image.width - w + 1)), y0 = Math.floor(random() * (image.height - h + 1));
    const rect: Rect = [x0, y0, x0 + w, y0 + h];
    fillRect(image, rect);
    cutouts.push(rect);
  },
  greyscale: (image) => greyscale(image),
  tint: (image, s, random) => {
    const [h, sat, l] = (['hue', 'saturation', 'lightness'] as const).map((k) => uniform(random, paramRange('tint', s, k)));
    toneRamp(image.data, hslRgb(h!, sat!, l!));
  },
  lineart: (image) => image.data.set(lineArt(image.data, image.width, image.height)),
  screentone: (image, s, random) => {
    const [black, white, period] = (['black', 'white', 'period'] as const).map((k) => uniform(random, paramRange('screentone', s, k)));
    screentone(image.data, image.width, image.height, { black: black!, white: white!, period: period!, phase: [random(), random()] });
  },
  brightness: (image, s, random) => brightness(image, uniform(random, paramRange('brightness', s, 'factor'))),
  contrast: (image, s, random) => contrast(image, uniform(random, paramRange('contrast', s, 'factor'))),
  blur: (image, s, random) => blur(image, uniform(random, paramRange('blur', s, 'sigma'))),
  downscale: (image, s, random) => downscale(image, uniform(random, paramRange('downscale', s, 'factor'))),
  noise: (image, s, random) => noise(image, uniform(random, paramRange('noise', s, 'sigma')), random),
  jpeg: (image, s, random) => jpeg(image, uniform(random, paramRange('jpeg', s, 'quality'))),
};

const LEGACY_CORRUPTIONS = ['jpeg', 'downscale', 'noise'] as const;
/** The ops that redraw the whole picture in another rendering, in table order. */
const RENDERINGS: readonly OpName[] = ['greyscale', 'tint', 'lineart', 'screentone'];

const on = (o: AugmentOptions, op: OpName): OpSetting | null => {
  const s = o.ops?.[op];
  return s && s.probability > 0 ? s : null;
};

/** A training sample: NHWC RGB floats in [0, 1] written at `out[offset…]`; what was done, for the labels. */
export async function augmentImage(image: DecodedImage, width: number, height: number, o: AugmentOptions, random: Random, out: Float32Array, offset = 0): Promise<AugmentResult> {
  const applied = new Set<AppliedOp>();
  // alpha is dropped, not composited, as TensorFlow's decode_png(channels=3) does in the original pipeline
  const rgb = dropAlpha(image, { alpha: 'strip', background: [0, 0, 0] });
  const cropSetting = on(o, 'crop');
  let crop: Rect = [0, 0, rgb.width, rgb.height];
  if (cropSetting && random() < cropSetting.probability) {
    crop = drawCrop(rgb.width, rgb.height, cropSetting, random);
    applied.add('crop');
  }
  const sMax = o.scale ? o.scale[1] : 1;
  const cropped = cropRaster(rgb, crop);
  const fit = tfFitSize(cropped.width, cropped.height, Math.floor(width * sMax), Math.floor(height * sMax));
  const params = drawWarp(o, width, height, random);
  if (params.flip) applied.add('flip');
  const warped = warp(resizeArea(cropped, fit.width, fit.height), width, height, params);
  const cutouts: Rect[] = [];
  for (const op of OP_NAMES) {
    // one rendering per sample, the first drawn: its labels say which
    if (op === 'crop' || (RENDERINGS.includes(op) && RENDERINGS.some((r) => applied.has(r)))) continue;
    const s = on(o, op);
    if (!s || random() >= s.probability) continue;
    await PIXEL_OPS[op](warped, s, random, cutouts);
    applied.add(op);
  }
  if (o.corruption > 0 && random() < o.corruption) {
    const op = LEGACY_CORRUPTIONS[Math.floor(random() * 3)]!;
    await PIXEL_OPS[op](warped, { probability: 1 }, random, cutouts);
    applied.add(op);
  }
  const { data } = warped;
  for (let i = 0; i < data.length; i++) out[offset + i] = data[i]! / 255;
  return { applied, geometry: { source: { width: rgb.width, height: rgb.height }, crop, fit, out: { width, height }, warp: params, cutouts } };
}

export { AUGMENT_OPS, OP_NAMES, type OpName, type OpSetting };
