/**
 * Line art: the outlines of a drawing alone, black on white. The synthetic generator renders its `lineart`
 * scenes this way and the `lineart` augmentation redraws a training sample so, with one formula: dark where the
 * luminance changes fast (Sobel), white elsewhere.
 */
import { luma } from './colour.ts';

/**
 * What line art cannot show, by the tag of what is drawn: blush is colour alone, and sunglasses are told from
 * glasses by their dark lenses, so their outline passes for either (neither is asserted nor denied).
 */
export const LINE_ART_HIDES: Readonly<Record<string, readonly string[]>> = { blush: ['blush'], sunglasses: ['sunglasses', 'glasses'] };

/** Sobel magnitudes below this stay white; the ink is full this far above it. */
const EDGE_FROM = 60, EDGE_SPAN = 120;

/** The line art of an RGB image (0–255, HWC, width × height), float RGB 0–255. */
export function lineArt(rgb: ArrayLike<number>, width: number, height: number): Float32Array {
  const l = new Float32Array(width * height);
  for (let p = 0; p < l.length; p++) l[p] = luma(rgb, 3 * p);
  const out = new Float32Array(3 * width * height);
  const at = (x: number, y: number) => l[Math.min(height - 1, Math.max(0, y)) * width + Math.min(width - 1, Math.max(0, x))]!;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const gx = at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x - 1, y) - at(x - 1, y + 1);
      const gy = at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x, y - 1) - at(x + 1, y - 1);
      const dark = Math.min(1, Math.max(0, (Math.hypot(gx, gy) - EDGE_FROM) / EDGE_SPAN));
      out.fill(255 * (1 - dark), 3 * (y * width + x), 3 * (y * width + x) + 3);
    }
  }
  return out;
}
