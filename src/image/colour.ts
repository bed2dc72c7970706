/** Colour arithmetic shared by the augmentations and the synthetic generator's renderings. */

/** Rec. 601 luminance weights, as PIL's convert("L") uses them. */
export const LUMA = [0.299, 0.587, 0.114] as const;

/** The luminance of the RGB triple at `i`, 0–255. */
export const luma = (rgb: ArrayLike<number>, i: number): number => LUMA[0] * rgb[i]! + LUMA[1] * rgb[i + 1]! + LUMA[2] * rgb[i + 2]!;

/** HSL (degrees, 0–1, 0–1) to RGB, 0–255 unrounded. */
export function hslRgb(h: number, s: number, l: number): [number, number, number] {
  const k = (n: number) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => 255 * (l - a * Math.max(-1, Math.min(k(n) - 3, 9 - k(n), 1)));
  return [f(0), f(8), f(4)];
}

/**
 * Redraws an RGB image in one hue, in place: each pixel's luminance on a ramp from `ink` (at black) to white.
 * Ink black is greyscale; a dark colour is Danbooru's monochrome that is not greyscale (sepia, a blue print).
 */
export function toneRamp(data: Float32Array, ink: readonly [number, number, number]): void {
  for (let i = 0; i < data.length; i += 3) {
    const t = luma(data, i) / 255;
    for (let k = 0; k < 3; k++) data[i + k] = ink[k]! + (255 - ink[k]!) * t;
  }
}
