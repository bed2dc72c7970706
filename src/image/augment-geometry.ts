/**
 * Where each source pixel lands after an augmentation's crop, warp and cutouts, so a label rule can ask
 * how much of a part (a ground-truth mask) or of the whole picture is still in the frame.
 *
 * The chain, in pixel-index coordinates (centres on integers): source → crop rectangle → area resize to
 * `fit` → DeepDanbooru's warp (scale, rotation about the centre, shift) → optional horizontal flip.
 */
import type { GreyImage } from './mask.ts';

/** x0 ≤ x < x1, y0 ≤ y < y1 */
export type Rect = readonly [x0: number, y0: number, x1: number, y1: number];

export interface WarpParams {
  /** Relative to the fitted image (DeepDanbooru's U(s0, s1)/s1). */
  readonly scale: number;
  /** Radians. */
  readonly theta: number;
  readonly shiftX: number;
  readonly shiftY: number;
  readonly flip: boolean;
}

export interface Geometry {
  readonly source: { readonly width: number; readonly height: number };
  /** In source pixels; the whole image when there is no crop. */
  readonly crop: Rect;
  /** The crop after the area resize, before the warp. */
  readonly fit: { readonly width: number; readonly height: number };
  readonly out: { readonly width: number; readonly height: number };
  readonly warp: WarpParams;
  /** Output rectangles painted over. */
  readonly cutouts: readonly Rect[];
}

/** The output position of source pixel (x, y), or null when the crop removed it. */
export function toOutput(g: Geometry, x: number, y: number): [number, number] | null {
  const [cx0, cy0, cx1, cy1] = g.crop;
  if (x < cx0 || x >= cx1 || y < cy0 || y >= cy1) return null;
  // crop → fitted index coordinates (the area resize scales continuous coordinates, pixel i spans [i, i+1))
  const u = ((x + 0.5 - cx0) * g.fit.width) / (cx1 - cx0) - 0.5, v = ((y + 0.5 - cy0) * g.fit.height) / (cy1 - cy0) - 0.5;
  const { scale, theta, shiftX, shiftY, flip } = g.warp;
  const du = u - g.fit.width / 2, dv = v - g.fit.height / 2;
  const cos = Math.cos(theta), sin = Math.sin(theta);
  // the inverse of warp()'s sampling map p = S⁻¹·R⁻¹·(out − c_out − shift) + c_src
  const ox = scale * (cos * du - sin * dv) + g.out.width / 2 + shiftX, oy = scale * (sin * du + cos * dv) + g.out.height / 2 + shiftY;
  return [flip ? g.out.width - 1 - ox : ox, oy];
}

/** Whether source pixel (x, y) is still seen: inside the crop, inside the output frame, under no cutout. */
export function isVisible(g: Geometry, x: number, y: number): boolean {
  const p = toOutput(g, x, y);
  if (!p) return false;
  const px = Math.round(p[0]), py = Math.round(p[1]);
  if (px < 0 || py < 0 || px >= g.out.width || py >= g.out.height) return false;
  return !g.cutouts.some(([x0, y0, x1, y1]) => px >= x0 && px < x1 && py >= y0 && py < y1);
}

/** The share of the source image still seen, on a grid of `n`×`n` points. */
export function frameVisibility(g: Geometry, n = 32): number {
  let seen = 0;
  for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) {
    if (isVisible(g, ((i + 0.5) * g.source.width) / n - 0.5, ((j + 0.5) * g.source.height) / n - 0.5)) seen++;
  }
  return seen / (n * n);
}

/** Whether the geometry can have hidden anything: a crop, a cutout, or a corner of the source off the frame. */
export function hidesAnything(g: Geometry): boolean {
  const { width: w, height: h } = g.source;
  if (g.cutouts.length > 0 || g.crop[0] > 0 || g.crop[1] > 0 || g.crop[2] < w || g.crop[3] < h) return true;
  return ![[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]].every(([x, y]) => isVisible(g, x!, y!));
}

/**
 * The share of a part's pixels still seen. `box` is the part's bounding box in source pixels (the generator
 * draws its masks at the image's size); it answers without reading the mask when the part is wholly in or
 * wholly cut away. A mask of another size than the source is scaled to it.
 */
export async function partVisibility(g: Geometry, box: Rect, read: () => Promise<GreyImage>): Promise<number> {
  const [x0, y0, x1, y1] = box;
  if (x1 <= x0 || y1 <= y0) return 1;
  // the affine image of a rectangle is convex, as are the crop and the frame: four corners seen and no
  // cutout mean the whole box is seen
  if (g.cutouts.length === 0 && [[x0, y0], [x1 - 1, y0], [x0, y1 - 1], [x1 - 1, y1 - 1]].every(([x, y]) => isVisible(g, x!, y!))) return 1;
  const [cx0, cy0, cx1, cy1] = g.crop;
  if (x1 <= cx0 || x0 >= cx1 || y1 <= cy0 || y0 >= cy1) return 0;
  const m = await read();
  const kx = g.source.width / m.width, ky = g.source.height / m.height;
  const same = kx === 1 && ky === 1;
  let seen = 0, total = 0;
  for (let y = same ? y0 : 0; y < (same ? y1 : m.height); y++) for (let x = same ? x0 : 0; x < (same ? x1 : m.width); x++) {
    if (!m.data[y * m.width + x]) continue;
    total++;
    if (isVisible(g, (x + 0.5) * kx - 0.5, (y + 0.5) * ky - 0.5)) seen++;
  }
  return total === 0 ? 1 : seen / total;
}
