/**
 * Between the image a user uploads and the attack variable: the original's model-resolution pixels (the
 * bundle's own preprocessing, undone to [0, 1]), and the perturbation found there carried back onto the
 * original, bilinearly upsampled over the content rectangle (padding excluded), added and rounded to bytes.
 */
import type { DecodedImage } from '../image/decode.ts';
import { contentRect, dropAlpha, preprocess } from '../image/preprocess.ts';
import type { PreprocessSpec } from '../image/spec.ts';
import { inputToPixels } from './pixel-space.ts';

/** The model's view of an image: RGB HWC in [0, 1] at the input resolution. */
export function modelPixels(image: DecodedImage, spec: PreprocessSpec): Float32Array {
  return inputToPixels(preprocess(image, spec), 1, spec);
}

/** The original as the model reads it (alpha handled as the bundle says), RGB bytes at full size. */
export function originalRgb(image: DecodedImage, spec: PreprocessSpec): DecodedImage {
  const r = dropAlpha(image, spec);
  return { data: Uint8Array.from(r.data), width: r.width, height: r.height, channels: 3 };
}

/** `original` + δ (model resolution, HWC) upsampled to the original's size, clipped and rounded to bytes. */
export function mapBack(original: DecodedImage, delta: Float32Array, spec: PreprocessSpec): DecodedImage {
  const { width: W, height: H } = original, rect = contentRect(W, H, spec);
  const w = spec.width, h = spec.height;
  const out = new Uint8Array(W * H * 3);
  const clampIdx = (v: number, n: number) => Math.min(n - 1, Math.max(0, v));
  for (let v = 0; v < H; v++) {
    const y = clampIdx(rect.y + ((v + 0.5) * rect.height) / H - 0.5, h);
    const y0 = Math.floor(y), y1 = Math.min(h - 1, y0 + 1), fy = y - y0;
    for (let u = 0; u < W; u++) {
      const x = clampIdx(rect.x + ((u + 0.5) * rect.width) / W - 0.5, w);
      const x0 = Math.floor(x), x1 = Math.min(w - 1, x0 + 1), fx = x - x0;
      for (let c = 0; c < 3; c++) {
        const d = (1 - fy) * ((1 - fx) * delta[(y0 * w + x0) * 3 + c]! + fx * delta[(y0 * w + x1) * 3 + c]!)
          + fy * ((1 - fx) * delta[(y1 * w + x0) * 3 + c]! + fx * delta[(y1 * w + x1) * 3 + c]!);
        const j = (v * W + u) * 3 + c;
        out[j] = Math.min(255, Math.max(0, Math.round(original.data[j]! + 255 * d)));
      }
    }
  }
  return { data: out, width: W, height: H, channels: 3 };
}

/** ‖a − b‖∞ and ‖a − b‖₂ of two byte images, in /255 units. */
export function byteNorms(a: Uint8Array, b: Uint8Array): { linf: number; l2: number } {
  let linf = 0, sq = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    linf = Math.max(linf, d);
    sq += d * d;
  }
  return { linf, l2: Math.sqrt(sq) };
}
