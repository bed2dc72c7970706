/**
 * The input-transformation defences as pixel operations on [0, 1] RGB HWC images at the model's input size
 * (reference/robustness.md §b.3). Each returns a new image; the input is never written.
 */
import { jpeg as jpeg255, noise as noise255, type FloatRaster } from '../augment-ops.ts';
import { resizeArea } from '../resize-area.ts';
import type { DefenceImage } from '../defence.ts';

const to255 = ({ data, width, height }: DefenceImage): FloatRaster => ({ data: data.map((v) => v * 255), width, height });
const from255 = ({ data, width, height }: FloatRaster): DefenceImage => ({ data: data.map((v) => v / 255), width, height });

/** Feature squeezing's colour-depth reduction (Xu et al. 2018): v → round(v·(2^b − 1)) / (2^b − 1). */
export function bitDepth(image: DefenceImage, bits: number): DefenceImage {
  const levels = 2 ** bits - 1;
  return { ...image, data: image.data.map((v) => Math.round(Math.min(1, Math.max(0, v)) * levels) / levels) };
}

/** A `size × size` median per channel, the border replicated (scipy's `median_filter(mode="nearest")`); `size` odd. */
export function median({ data, width, height }: DefenceImage, size: number): DefenceImage {
  const r = (size - 1) / 2;
  const out = new Float32Array(data.length);
  const window = new Float32Array(size * size);
  const mid = (size * size - 1) / 2;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) {
    let n = 0;
    for (let dy = -r; dy <= r; dy++) {
      const row = Math.min(height - 1, Math.max(0, y + dy)) * width;
      for (let dx = -r; dx <= r; dx++) window[n++] = data[(row + Math.min(width - 1, Math.max(0, x + dx))) * 3 + c]!;
    }
    window.sort();
    out[(y * width + x) * 3 + c] = window[mid]!;
  }
  return { data: out, width, height };
}

/** Re-encoded as a baseline JPEG of `quality` by libjpeg (sharp) and decoded again (Guo et al. 2018; Das et al. 2018). */
export async function jpeg(image: DefenceImage, quality: number): Promise<DefenceImage> {
  const raster = to255(image);
  await jpeg255(raster, quality);
  return from255(raster);
}

/** Independent N(0, σ²) per sample, clamped to [0, 1]. */
export function gaussianNoise(image: DefenceImage, sigma: number, random: () => number): DefenceImage {
  const raster = to255(image);
  noise255(raster, sigma * 255, random);
  return from255(raster);
}

/**
 * Xie et al. 2018's randomisation: resize to a random side in [min, 1] × the input (area-averaged, aspect kept),
 * then place it at a random offset on a zero canvas of the input size.
 */
export function resizePad(image: DefenceImage, min: number, random: () => number): DefenceImage {
  const { width, height } = image;
  const scale = min + (1 - min) * random();
  const w = Math.max(1, Math.round(width * scale)), h = Math.max(1, Math.round(height * scale));
  const small = resizeArea(image, w, h);
  const left = Math.floor(random() * (width - w + 1)), top = Math.floor(random() * (height - h + 1));
  const out = new Float32Array(width * height * 3);
  for (let y = 0; y < h; y++) out.set(small.data.subarray(y * w * 3, (y + 1) * w * 3), ((top + y) * width + left) * 3);
  return { data: out, width, height };
}
