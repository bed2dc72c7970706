/**
 * Pictures of regions for the grad-cam folder, as bytes: a mask, the masked input, and an SVG of every tag's box
 * and name (rendered by the caller, which owns the SVG renderer). Heat-map colours live in image/heatmap.ts.
 */
import type { FloatMap, TagRegion } from './types.ts';

/** 0/255 bytes where the map reaches the threshold. */
export function maskBytes(map: Float32Array, threshold: number): Uint8Array {
  return Uint8Array.from(map, (v) => (v >= threshold && v > 0 ? 255 : 0));
}

/** The input scaled by a single-channel map: DeepDanbooru's `result-<tag>-masked.png`. */
export function maskedInput(rgb: Uint8Array, map: FloatMap & { channels: 1 | 3 }): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let p = 0; p < rgb.length / 3; p++) {
    const m = map.channels === 1 ? map.data[p]! : Math.max(map.data[p * 3]!, map.data[p * 3 + 1]!, map.data[p * 3 + 2]!);
    for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.round(rgb[p * 3 + c]! * m);
  }
  return out;
}

const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45', '#fabed4', '#469990', '#dcbeff', '#9a6324'];

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Every boxed region outlined and named, as a transparent SVG the size of the image. */
export function regionsSvg(width: number, height: number, regions: readonly TagRegion[]): string {
  const line = Math.max(2, Math.round(Math.min(width, height) / 200));
  const font = Math.max(10, Math.round(Math.min(width, height) / 32));
  const shapes = regions.filter((r) => r.box).map((r, i) => {
    const [x0, y0, x1, y1] = r.box!;
    const colour = PALETTE[i % PALETTE.length]!;
    const label = `${escape(r.name)} ${r.score.toFixed(2)}`;
    const ty = y0 >= font + line ? y0 - line : y0 + font + line;
    return `<rect x="${x0 + line / 2}" y="${y0 + line / 2}" width="${Math.max(0, x1 - x0 - line)}" height="${Math.max(0, y1 - y0 - line)}" fill="none" stroke="${colour}" stroke-width="${line}"/>` +
      `<text x="${x0 + line}" y="${ty}" font-family="sans-serif" font-size="${font}" fill="${colour}" stroke="black" stroke-width="${font / 12}" paint-order="stroke">${label}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${shapes.join('')}</svg>`;
}

/** Straight-alpha RGBA composited over RGB. */
export function composite(rgb: Uint8Array, rgba: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let p = 0; p < rgb.length / 3; p++) {
    const a = rgba[p * 4 + 3]! / 255;
    for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.round(rgb[p * 3 + c]! * (1 - a) + rgba[p * 4 + c]! * a);
  }
  return out;
}
