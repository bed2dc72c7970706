/**
 * Edge-aware refinement of a coarse map: the colour guided filter (He, Sun & Tang, "Guided Image Filtering",
 * ECCV 2010), in its fast form (He & Sun, "Fast Guided Filter", 2015). A map upsampled from a 7×7 grid is a
 * blob of 32-px cells; the filter fits, in every window, the map as a linear function of the image colour, so
 * the result keeps the map's level but takes the image's edges. The linear coefficients vary slowly, so they are
 * fitted on the image subsampled by `s` and only applied at full resolution: the cost per map falls by s².
 */
import { InvariantError } from '../errors.ts';
import { axis, blockMean, type Refine } from './postprocess.ts';

/** Sum over the (2r+1)² window around each pixel (clipped at the borders), by a summed-area table. */
function boxSum(src: Float64Array, width: number, height: number, r: number, out: Float64Array): Float64Array {
  const w1 = width + 1;
  const sat = new Float64Array(w1 * (height + 1));
  for (let y = 0; y < height; y++) {
    let row = 0;
    for (let x = 0; x < width; x++) {
      row += src[y * width + x]!;
      sat[(y + 1) * w1 + x + 1] = sat[y * w1 + x + 1]! + row;
    }
  }
  for (let y = 0; y < height; y++) {
    const y0 = Math.max(0, y - r), y1 = Math.min(height, y + r + 1);
    for (let x = 0; x < width; x++) {
      const x0 = Math.max(0, x - r), x1 = Math.min(width, x + r + 1);
      out[y * width + x] = sat[y1 * w1 + x1]! - sat[y0 * w1 + x1]! - sat[y1 * w1 + x0]! + sat[y0 * w1 + x0]!;
    }
  }
  return out;
}

export interface GuidedFilterOptions {
  /** Window radius in pixels of the guide. */
  readonly radius: number;
  /** Regulariser on colour variance (guide in [0, 1]): larger smooths across weaker edges. */
  readonly epsilon: number;
}

type Planes = readonly [Float64Array, Float64Array, Float64Array];
/** q = a·I + b per pixel: a per colour plane, then b. */
type Coefficients = readonly [Float64Array, Float64Array, Float64Array, Float64Array];

/** A guide image prepared once: per-pixel window means and the inverse of the regularised colour covariance. */
export interface Guide {
  readonly width: number;
  readonly height: number;
  readonly radius: number;
  /** Colour planes in [0, 1]. */
  readonly planes: Planes;
  /** Window means of each plane. */
  readonly means: Planes;
  /** Σ⁻¹ per pixel, symmetric: rr, rg, rb, gg, gb, bb. */
  readonly inverse: Float64Array;
  /** Pixels per window (smaller at the borders). */
  readonly counts: Float64Array;
}

/** Window means of `src` under the guide's windows. */
function windowMean(g: Pick<Guide, 'width' | 'height' | 'radius' | 'counts'>, src: Float64Array): Float64Array {
  const out = boxSum(src, g.width, g.height, g.radius, new Float64Array(src.length));
  for (let i = 0; i < out.length; i++) out[i]! /= g.counts[i]!;
  return out;
}

/** Colour planes in [0, 1] from interleaved RGB bytes. */
export function rgbPlanes(rgb: Uint8Array, n: number): Planes {
  return [0, 1, 2].map((c) => {
    const p = new Float64Array(n);
    for (let i = 0; i < n; i++) p[i] = rgb[i * 3 + c]! / 255;
    return p;
  }) as unknown as Planes;
}

/** Prepare colour planes (`width × height`, values in [0, 1]) as a guide. */
export function prepareGuide(planes: Planes, width: number, height: number, { radius, epsilon }: GuidedFilterOptions): Guide {
  const n = width * height;
  const counts = boxSum(new Float64Array(n).fill(1), width, height, radius, new Float64Array(n));
  const shape = { width, height, radius, counts };
  const means = planes.map((p) => windowMean(shape, p)) as unknown as Planes;
  const pairs = [[0, 0], [0, 1], [0, 2], [1, 1], [1, 2], [2, 2]] as const;
  const [crr, crg, crb, cgg, cgb, cbb] = pairs.map(([a, b]) => {
    const prod = new Float64Array(n);
    const pa = planes[a], pb = planes[b], ma = means[a], mb = means[b];
    for (let i = 0; i < n; i++) prod[i] = pa[i]! * pb[i]!;
    const m = windowMean(shape, prod);
    for (let i = 0; i < n; i++) m[i] = m[i]! - ma[i]! * mb[i]! + (a === b ? epsilon : 0);
    return m;
  }) as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
  const inverse = new Float64Array(n * 6);
  for (let i = 0; i < n; i++) {
    const rr = crr[i]!, rg = crg[i]!, rb = crb[i]!, gg = cgg[i]!, gb = cgb[i]!, bb = cbb[i]!;
    // adjugate / determinant of the symmetric 3×3; ε > 0 keeps it positive definite
    const irr = gg * bb - gb * gb, irg = gb * rb - rg * bb, irb = rg * gb - gg * rb;
    const igg = rr * bb - rb * rb, igb = rb * rg - rr * gb, ibb = rr * gg - rg * rg;
    const inv = 1 / (rr * irr + rg * irg + rb * irb), o = i * 6;
    inverse[o] = irr * inv;
    inverse[o + 1] = irg * inv;
    inverse[o + 2] = irb * inv;
    inverse[o + 3] = igg * inv;
    inverse[o + 4] = igb * inv;
    inverse[o + 5] = ibb * inv;
  }
  return { width, height, radius, planes, means, inverse, counts };
}

/** The window-averaged linear coefficients (q = a·I + b) of `map` under the guide: a per colour plane, then b. */
export function coefficients(guide: Guide, map: Float64Array): Coefficients {
  const { planes, means, inverse } = guide;
  const n = guide.width * guide.height;
  if (map.length !== n) throw new InvariantError(`guided filter: the map has ${map.length} pixels, the guide ${n}`);
  const meanP = windowMean(guide, map);
  const [c0s, c1s, c2s] = planes.map((plane, c) => {
    const prod = new Float64Array(n), mean = means[c]!;
    for (let i = 0; i < n; i++) prod[i] = plane[i]! * map[i]!;
    const m = windowMean(guide, prod);
    for (let i = 0; i < n; i++) m[i] = m[i]! - mean[i]! * meanP[i]!;
    return m;
  }) as [Float64Array, Float64Array, Float64Array];
  // per window: a = Σ⁻¹ cov(I, p), b = mean(p) − aᵀ mean(I); each pixel then averages the windows covering it
  const a0s = new Float64Array(n), a1s = new Float64Array(n), a2s = new Float64Array(n), b = new Float64Array(n);
  const [m0, m1, m2] = means;
  for (let i = 0; i < n; i++) {
    const o = i * 6, c0 = c0s[i]!, c1 = c1s[i]!, c2 = c2s[i]!;
    const a0 = inverse[o]! * c0 + inverse[o + 1]! * c1 + inverse[o + 2]! * c2;
    const a1 = inverse[o + 1]! * c0 + inverse[o + 3]! * c1 + inverse[o + 4]! * c2;
    const a2 = inverse[o + 2]! * c0 + inverse[o + 4]! * c1 + inverse[o + 5]! * c2;
    a0s[i] = a0;
    a1s[i] = a1;
    a2s[i] = a2;
    b[i] = meanP[i]! - a0 * m0[i]! - a1 * m1[i]! - a2 * m2[i]!;
  }
  return [windowMean(guide, a0s), windowMean(guide, a1s), windowMean(guide, a2s), windowMean(guide, b)];
}

/** The exact guided filter: `map` (same size as the guide) filtered under it, in a new array. */
export function guidedFilter(guide: Guide, map: Float32Array): Float32Array {
  const [a0, a1, a2, b] = coefficients(guide, Float64Array.from(map));
  const [r, g, bl] = guide.planes;
  const out = new Float32Array(map.length);
  for (let i = 0; i < out.length; i++) out[i] = a0[i]! * r[i]! + a1[i]! * g[i]! + a2[i]! * bl[i]! + b[i]!;
  return out;
}

/** q = a·I + b at full resolution, the coefficients interpolated from their s-times coarser grid; clipped at 0. */
function applyCoefficients([a0, a1, a2, b]: Coefficients, gw: number, gh: number, s: number, [r, g, bl]: Planes, width: number, height: number): Float32Array {
  const xs = axis(gw, gw * s, 0, width), ys = axis(gh, gh * s, 0, height);
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const top = ys.lo[y]! * gw, bottom = ys.hi[y]! * gw, ty = ys.t[y]!;
    for (let x = 0; x < width; x++) {
      const tx = xs.t[x]!, i = y * width + x;
      const tl = top + xs.lo[x]!, tr = top + xs.hi[x]!, bo = bottom + xs.lo[x]!, br = bottom + xs.hi[x]!;
      const wtl = (1 - tx) * (1 - ty), wtr = tx * (1 - ty), wbl = (1 - tx) * ty, wbr = tx * ty;
      const A0 = a0[tl]! * wtl + a0[tr]! * wtr + a0[bo]! * wbl + a0[br]! * wbr;
      const A1 = a1[tl]! * wtl + a1[tr]! * wtr + a1[bo]! * wbl + a1[br]! * wbr;
      const A2 = a2[tl]! * wtl + a2[tr]! * wtr + a2[bo]! * wbl + a2[br]! * wbr;
      const B = b[tl]! * wtl + b[tr]! * wtr + b[bo]! * wbl + b[br]! * wbr;
      const q = A0 * r[i]! + A1 * g[i]! + A2 * bl[i]! + B;
      out[i] = q > 0 ? q : 0;
    }
  }
  return out;
}

/** Colour variance below which the filter smooths across an edge (guide in [0, 1]); chosen on the held-out masks. */
const REFINE_EPSILON = 1e-3;
/** Subsampled pixels per window radius: the fast filter's s is radius / 4, which He & Sun find visually lossless. */
const LOW_RES_RADIUS = 4;

/**
 * One image's refiner: maps over its content (`rgb`, `width × height`) filtered under it by the fast guided
 * filter, the guide prepared once per window radius and shared by all the image's tags. Overshoot below 0 at
 * edges is clipped.
 */
export function guidedRefiner(rgb: Uint8Array, width: number, height: number): Refine {
  const full = rgbPlanes(rgb, width * height);
  const guides = new Map<number, { guide: Guide; s: number }>();
  return (map, radius) => {
    let entry = guides.get(radius);
    if (!entry) {
      const s = Math.max(1, Math.floor(radius / LOW_RES_RADIUS));
      const low = full.map((p) => blockMean(p, width, height, s)) as unknown as Planes;
      const guide = prepareGuide(low, Math.ceil(width / s), Math.ceil(height / s), { radius: Math.max(1, Math.round(radius / s)), epsilon: REFINE_EPSILON });
      guides.set(radius, (entry = { guide, s }));
    }
    const { guide, s } = entry;
    // the coefficients are smooth: bilinear back to full resolution (as postprocess.upsample), applied to the
    // full-resolution colour
    return applyCoefficients(coefficients(guide, blockMean(map, width, height, s)), guide.width, guide.height, s, full, width, height);
  };
}
