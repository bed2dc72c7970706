/**
 * TensorFlow's ResizeArea (align_corners=false), the resize DeepDanbooru uses through
 * `tf.image.resize(method=AREA, preserve_aspect_ratio=True)`.
 *
 * Precision: the scales, cell bounds and weights are computed in float32 exactly as TF does (they decide which
 * source pixels take part); each row's horizontal sum and the vertical sum are held in float32 as TF's
 * `sum_y` and `sum` are, and the final `sum · 1/(sh·sw)` uses TF's float32 normaliser. The horizontal sum is
 * accumulated in float64 before it is stored, so results differ from TF by at most a few float32 ulps
 * (≈ 1e-5 on the 0–255 scale).
 */
import { type Raster, roundHalfEven } from './raster.ts';

const f32 = Math.fround;

/**
 * TF's preserve_aspect_ratio size: `scale = min(H/h, W/w)` in float32, each side `round_half_even(scale · side)`.
 * NOTE: TF fails on a side that rounds to 0 (a 1×5000 strip); we keep one pixel instead.
 */
export function tfFitSize(width: number, height: number, targetWidth: number, targetHeight: number): { width: number; height: number } {
  const scale = Math.min(f32(targetHeight / height), f32(targetWidth / width));
  return {
    width: Math.max(1, roundHalfEven(f32(scale * width))),
    height: Math.max(1, roundHalfEven(f32(scale * height))),
  };
}

/** For each output index, a run of consecutive source pixels and their overlap lengths: a CSR table. */
export interface AxisWeights {
  /** Output `o` takes source pixels `first[o]…` with weights `weight[start[o] .. start[o+1]]`. */
  readonly first: Int32Array;
  readonly start: Int32Array;
  readonly weight: Float32Array;
  /** TF's float32 `in / out`. */
  readonly scale: number;
}

export function areaWeights(inSize: number, outSize: number): AxisWeights {
  const scale = f32(inSize / outSize);
  const first = new Int32Array(outSize);
  const start = new Int32Array(outSize + 1);
  const weight: number[] = [];
  for (let o = 0; o < outSize; o++) {
    start[o] = weight.length;
    const a = f32(o * scale);
    const b = f32((o + 1) * scale);
    first[o] = Math.floor(a);
    for (let i = Math.floor(a); i < Math.ceil(b); i++) {
      // NOTE: a cell strictly inside one source pixel weighs `scale`, not `b − a`: TF's start_scale rule
      const w = i < a ? (i + 1 > b ? scale : f32(i + 1 - a)) : i + 1 > b ? f32(b - i) : 1;
      // NOTE: float32 rounding can push `b` just past the last pixel; TF clamps that sliver onto it
      if (i >= inSize) weight[weight.length - 1] = f32(weight.at(-1)! + w);
      else weight.push(w);
    }
  }
  start[outSize] = weight.length;
  return { first, start, weight: Float32Array.from(weight), scale };
}

/** Resize an RGB raster to `outWidth × outHeight`; the result is float, 0–255, not rounded. */
export function resizeArea(src: Raster, outWidth: number, outHeight: number): Raster {
  const { data, width, height } = src;
  const xs = areaWeights(width, outWidth);
  const ys = areaWeights(height, outHeight);
  const rowStride = outWidth * 3;
  // Horizontal pass over every source row, kept in float32 like TF's per-row sums.
  const rows = new Float32Array(height * rowStride);
  for (let y = 0; y < height; y++) sumRow(data, y * width * 3, xs, rows, y * rowStride, outWidth);

  const norm = f32(1 / f32(ys.scale * xs.scale));
  const out = new Float32Array(outHeight * rowStride);
  const { first, start, weight } = ys;
  for (let y = 0; y < outHeight; y++) {
    const at = y * rowStride;
    for (let k = start[y]!, end = start[y + 1]!, from = first[y]! * rowStride; k < end; k++, from += rowStride) {
      const w = weight[k]!;
      for (let i = 0; i < rowStride; i++) out[at + i]! += rows[from + i]! * w;
    }
    for (let i = 0; i < rowStride; i++) out[at + i]! *= norm;
  }
  return { data: out, width: outWidth, height: outHeight };
}

// A function of its own so V8 optimises the hot loop early, with the tables in locals.
function sumRow(data: Raster['data'], from: number, xs: AxisWeights, rows: Float32Array, at: number, outWidth: number): void {
  const { first, start, weight } = xs;
  for (let x = 0, q = at; x < outWidth; x++, q += 3) {
    let r = 0, g = 0, b = 0;
    for (let k = start[x]!, end = start[x + 1]!, p = from + first[x]! * 3; k < end; k++, p += 3) {
      const w = weight[k]!;
      r += data[p]! * w;
      g += data[p + 1]! * w;
      b += data[p + 2]! * w;
    }
    rows[q] = r;
    rows[q + 1] = g;
    rows[q + 2] = b;
  }
}
