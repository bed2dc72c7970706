/**
 * The bundle's geometry (resize, then or after pad) as two banded linear maps, one per axis, measured by
 * pushing impulses through the real preprocessing: model image = A_y · original · A_xᵀ per channel (up to the
 * constant a colour pad adds). With them the perturbation found at the model's resolution goes back onto the
 * original as the bounded least-squares solution of A_y·D·A_xᵀ = δ, not as a blurred upsampling that the
 * model's own downscale would average away.
 */
import type { DecodedImage } from '../image/decode.ts';
import { contentRect } from '../image/preprocess.ts';
import type { PreprocessSpec } from '../image/spec.ts';
import { modelPixels } from './pixel-space.ts';

/** Row i of an m × n banded matrix: weights[i][k] at column start[i] + k. */
export interface Banded {
  readonly rows: number;
  readonly cols: number;
  readonly start: Int32Array;
  readonly weights: Float64Array[];
}

const EPS = 1e-7;

/** One axis's operator, from impulse lines spaced beyond the kernel's reach (several per probe). */
function probeAxis(width: number, height: number, spec: PreprocessSpec, axis: 'x' | 'y'): Banded {
  const [n, m] = axis === 'x' ? [width, spec.width] : [height, spec.height];
  const rect = contentRect(width, height, spec);
  const [offset, extent] = axis === 'x' ? [rect.x, rect.width] : [rect.y, rect.height];
  const toModel = (u: number) => offset + ((u + 0.5) * extent) / n - 0.5;
  // lanczos3 reaches 3 source pixels per output pixel on each side, scaled by the downscale ratio
  const spacing = Math.min(n, Math.ceil(8 * Math.max(1, n / extent)) + 8);
  const blank = { data: new Uint8Array(width * height * 3), width, height, channels: 3 as const };
  const base = modelPixels(blank, spec);
  // read the line through the middle of the content, across the axis
  const across = axis === 'x' ? Math.round(rect.y + rect.height / 2 - 0.5) : Math.round(rect.x + rect.width / 2 - 0.5);
  const columns: Map<number, number>[] = Array.from({ length: n }, () => new Map<number, number>());
  for (let o = 0; o < spacing; o++) {
    const image = { ...blank, data: new Uint8Array(width * height * 3) };
    const lit: number[] = [];
    for (let u = o; u < n; u += spacing) lit.push(u);
    for (const u of lit) {
      for (let t = 0; t < (axis === 'x' ? height : width); t++) {
        const p = axis === 'x' ? t * width + u : u * width + t;
        image.data[p * 3] = 255;
      }
    }
    const px = modelPixels(image, spec);
    for (let j = 0; j < m; j++) {
      const p = axis === 'x' ? across * spec.width + j : j * spec.width + across;
      const v = px[p * 3]! - base[p * 3]!;
      if (Math.abs(v) < EPS) continue;
      // the nearest lit line (in model coordinates, clamped to the content) is the one that put v here
      const at = Math.min(Math.max(j, offset), offset + extent - 1);
      let best = lit[0]!;
      for (const u of lit) if (Math.abs(toModel(u) - at) < Math.abs(toModel(best) - at)) best = u;
      columns[best]!.set(j, v);
    }
  }
  const rows: Map<number, number>[] = Array.from({ length: m }, () => new Map<number, number>());
  columns.forEach((col, u) => col.forEach((v, j) => rows[j]!.set(u, v)));
  const start = new Int32Array(m), weights: Float64Array[] = [];
  rows.forEach((row, j) => {
    const keys = [...row.keys()];
    const lo = keys.length ? Math.min(...keys) : 0, hi = keys.length ? Math.max(...keys) : -1;
    start[j] = lo;
    weights.push(Float64Array.from({ length: hi - lo + 1 }, (_, k) => row.get(lo + k) ?? 0));
  });
  return { rows: m, cols: n, start, weights };
}

const cache = new Map<string, { x: Banded; y: Banded }>();

export function geometryOperators(width: number, height: number, spec: PreprocessSpec): { x: Banded; y: Banded } {
  const key = `${width}x${height}:${JSON.stringify(spec)}`;
  let ops = cache.get(key);
  if (!ops) {
    ops = { x: probeAxis(width, height, spec, 'x'), y: probeAxis(width, height, spec, 'y') };
    if (cache.size > 16) cache.clear();
    cache.set(key, ops);
  }
  return ops;
}

/** A_y · D · A_xᵀ for one channel plane D (H × W) → h × w. */
export function apply(ay: Banded, ax: Banded, d: Float64Array): Float64Array {
  const W = ax.cols, w = ax.rows, h = ay.rows;
  const rowsMixed = new Float64Array(h * W);
  for (let i = 0; i < h; i++) {
    const ws = ay.weights[i]!, s = ay.start[i]!;
    for (let k = 0; k < ws.length; k++) for (let u = 0; u < W; u++) rowsMixed[i * W + u]! += ws[k]! * d[(s + k) * W + u]!;
  }
  const out = new Float64Array(h * w);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const ws = ax.weights[j]!, s = ax.start[j]!;
      let acc = 0;
      for (let k = 0; k < ws.length; k++) acc += ws[k]! * rowsMixed[i * W + s + k]!;
      out[i * w + j] = acc;
    }
  }
  return out;
}

/** A_yᵀ · R · A_x for a residual R (h × w) → H × W. */
export function applyT(ay: Banded, ax: Banded, r: Float64Array): Float64Array {
  const W = ax.cols, H = ay.cols, w = ax.rows, h = ay.rows;
  const colsMixed = new Float64Array(h * W);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const ws = ax.weights[j]!, s = ax.start[j]!, v = r[i * w + j]!;
      for (let k = 0; k < ws.length; k++) colsMixed[i * W + s + k]! += ws[k]! * v;
    }
  }
  const out = new Float64Array(H * W);
  for (let i = 0; i < h; i++) {
    const ws = ay.weights[i]!, s = ay.start[i]!;
    for (let k = 0; k < ws.length; k++) for (let u = 0; u < W; u++) out[(s + k) * W + u]! += ws[k]! * colsMixed[i * W + u]!;
  }
  return out;
}

/** max row sum × max column sum of |A|: a bound on ‖A‖₂². */
function normBound(a: Banded): number {
  const colSums = new Float64Array(a.cols);
  let row = 0;
  a.weights.forEach((ws, i) => {
    row = Math.max(row, ws.reduce((acc, v) => acc + Math.abs(v), 0));
    ws.forEach((v, k) => (colSums[a.start[i]! + k]! += Math.abs(v)));
  });
  return row * Math.max(...colSums);
}

/**
 * The full-size perturbation D (H × W × 3, [0, 1] units) whose preprocessing best reproduces δ (h × w × 3):
 * projected gradient on ‖A_y·D·A_xᵀ − δ‖² per channel, D kept within ±`bound` (L∞; Infinity for L2) and
 * within the image's [0, 1], starting from `start` (an upsampling of δ).
 */
export function solvePerturbation(original: DecodedImage, delta: Float32Array, start: Float32Array, spec: PreprocessSpec, bound: number, iterations = 20): Float32Array {
  const { width: W, height: H } = original;
  const { x: ax, y: ay } = geometryOperators(W, H, spec);
  const step = 1 / (normBound(ax) * normBound(ay));
  const out = new Float32Array(W * H * 3);
  for (let c = 0; c < 3; c++) {
    const d = Float64Array.from({ length: W * H }, (_, p) => start[p * 3 + c]!);
    const target = Float64Array.from({ length: spec.width * spec.height }, (_, p) => delta[p * 3 + c]!);
    const lo = Float64Array.from({ length: W * H }, (_, p) => Math.max(-bound, -original.data[p * 3 + c]! / 255));
    const hi = Float64Array.from({ length: W * H }, (_, p) => Math.min(bound, 1 - original.data[p * 3 + c]! / 255));
    for (let it = 0; it < iterations; it++) {
      const r = apply(ay, ax, d);
      for (let p = 0; p < r.length; p++) r[p]! -= target[p]!;
      const g = applyT(ay, ax, r);
      for (let p = 0; p < d.length; p++) d[p] = Math.min(hi[p]!, Math.max(lo[p]!, d[p]! - step * g[p]!));
    }
    for (let p = 0; p < W * H; p++) out[p * 3 + c] = d[p]!;
  }
  return out;
}
