/**
 * Screentone: the picture printed as a manga page is, in black ink alone. Tones at or below `black` are solid
 * ink, at or above `white` bare paper, and the tones between become a screen of round dots on a 45° grid whose
 * ink grows with the tone's darkness. So dark hair inks solid, a face stays paper with
 * its strokes, a mid-tone becomes dots, and the order of lightness survives as the density of the dots.
 */
import { luma } from './colour.ts';

/**
 * What the screen cannot show, by the tag of what is drawn: blush is a pink on a skin of nearly its lightness,
 * and freckles are small dots of a tone near the skin's, which the screen's own dots or bare paper swallow.
 */
export const SCREENTONE_HIDES: Readonly<Record<string, readonly string[]>> = { blush: ['blush'], freckles: ['freckles'] };

export interface ScreentoneSettings {
  /** Luma (0–255) at and below which the ink is solid. */
  readonly black: number;
  /** Luma at and above which the paper is bare; at or below `black` the screen is a plain threshold at `black`. */
  readonly white: number;
  /** Output pixels between neighbouring dots along the screen's axes. */
  readonly period: number;
  /** Where the grid starts, in periods (0–1 on each axis). */
  readonly phase: readonly [number, number];
}

/** Redraws an RGB image (0–255, HWC, width × height) in place, every pixel 0 or 255. */
export function screentone(rgb: Float32Array, width: number, height: number, s: ScreentoneSettings): void {
  const span = s.white - s.black;
  const step = 1 / (Math.SQRT2 * s.period);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 3 * (y * width + x);
      const l = luma(rgb, i);
      // the share of ink the tone asks for, and the dot's own profile here: inked where the tone outweighs it
      const ink = span > 0 ? Math.min(1, Math.max(0, (s.white - l) / span)) : l <= s.black ? 1 : 0;
      const u = (x + y) * step + s.phase[0], v = (x - y) * step + s.phase[1];
      const dot = (Math.cos(2 * Math.PI * u) + Math.cos(2 * Math.PI * v)) / 4 + 0.5;
      rgb.fill(ink > dot || ink === 1 ? 0 : 255, i, i + 3);
    }
  }
}
