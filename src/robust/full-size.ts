/**
 * Between the image a user uploads and the attack variable: the original's model-resolution pixels (the
 * bundle's own preprocessing, undone to [0, 1]), and the perturbation found there carried back onto the
 * original, bilinearly upsampled over the content rectangle (padding excluded), added and rounded to bytes.
 */
import type { DecodedImage } from '../image/decode.ts';
import { contentRect, dropAlpha } from '../image/preprocess.ts';
import type { PreprocessSpec } from '../image/spec.ts';
import { solvePerturbation } from './resize-operator.ts';

/** The original as the model reads it (alpha handled as the bundle says), RGB bytes at full size. */
export function originalRgb(image: DecodedImage, spec: PreprocessSpec): DecodedImage {
  const r = dropAlpha(image, spec);
  return { data: Uint8Array.from(r.data), width: r.width, height: r.height, channels: 3 };
}

/** δ (model resolution, HWC) bilinearly upsampled over the content rectangle to the original's size. */
function upsample(original: DecodedImage, delta: Float32Array, spec: PreprocessSpec): Float32Array {
  const { width: W, height: H } = original, rect = contentRect(W, H, spec);
  const w = spec.width, h = spec.height;
  const out = new Float32Array(W * H * 3);
  const clampIdx = (v: number, n: number) => Math.min(n - 1, Math.max(0, v));
  for (let v = 0; v < H; v++) {
    const y = clampIdx(rect.y + ((v + 0.5) * rect.height) / H - 0.5, h);
    const y0 = Math.floor(y), y1 = Math.min(h - 1, y0 + 1), fy = y - y0;
    for (let u = 0; u < W; u++) {
      const x = clampIdx(rect.x + ((u + 0.5) * rect.width) / W - 0.5, w);
      const x0 = Math.floor(x), x1 = Math.min(w - 1, x0 + 1), fx = x - x0;
      for (let c = 0; c < 3; c++) {
        out[(v * W + u) * 3 + c] = (1 - fy) * ((1 - fx) * delta[(y0 * w + x0) * 3 + c]! + fx * delta[(y0 * w + x1) * 3 + c]!)
          + fy * ((1 - fx) * delta[(y1 * w + x0) * 3 + c]! + fx * delta[(y1 * w + x1) * 3 + c]!);
      }
    }
  }
  return out;
}

/**
 * `original` + the full-size perturbation that best reproduces δ through the bundle's preprocessing
 * (resize-operator.ts), within ±`bound` per pixel (the L∞ budget; Infinity for L2), rounded to bytes.
 */
export function mapBack(original: DecodedImage, delta: Float32Array, spec: PreprocessSpec, bound: number): DecodedImage {
  const start = upsample(original, delta, spec);
  const d = original.width === spec.width && original.height === spec.height && spec.geometry !== 'pad-then-resize' ? start : solvePerturbation(original, delta, start, spec, bound);
  const out = Uint8Array.from(original.data, (v, j) => Math.min(255, Math.max(0, Math.round(v + 255 * d[j]!))));
  return { data: out, width: original.width, height: original.height, channels: 3 };
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
