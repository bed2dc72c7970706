/** Placing a resized image on the network's canvas: the two padding rules of the spec. */
import type { Rgb } from './spec.ts';
import type { Raster } from './raster.ts';

/**
 * Where each padding rule puts `inner` pixels on a canvas of `outer`: the position of the first image pixel.
 * Edge padding centres exactly (a half-pixel offset when the difference is odd); colour padding floors.
 */
export const PAD_OFFSET = {
  edge: (inner: number, outer: number) => (outer - inner) / 2,
  color: (inner: number, outer: number) => Math.floor((outer - inner) / 2),
} as const;

/** Per output index along one axis: the two neighbouring source indices (clamped) and the blend fraction. */
interface EdgeAxis {
  readonly lo: Int32Array;
  readonly hi: Int32Array;
  readonly frac: Float64Array;
}

function edgeAxis(inSize: number, outSize: number): EdgeAxis {
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const frac = new Float64Array(outSize);
  const shift = (inSize - outSize) / 2;
  for (let o = 0; o < outSize; o++) {
    const s = o + shift;
    const a = Math.floor(s);
    frac[o] = s - a;
    lo[o] = Math.min(Math.max(a, 0), inSize - 1);
    hi[o] = Math.min(Math.max(Math.ceil(s), 0), inSize - 1);
  }
  return { lo, hi, frac };
}

/**
 * DeepDanbooru's `transform_and_pad_image`: skimage `warp(order=1, mode="edge")` centring the image on a
 * `width × height` canvas. Output (x, y) samples the source at (x + (w − W)/2, y + (h − H)/2) bilinearly with
 * indices clamped to the image, so the border is replicated and an odd size difference shifts the whole axis
 * by half a pixel (every column or row becomes the mean of two). Float64 arithmetic stored as float32, which is
 * what skimage (≥ 0.19) returns for TF's float32 image: identical to skimage 0.19.3 sample for sample.
 */
export function padEdge(src: Raster, width: number, height: number): Raster {
  const { data } = src;
  const xs = edgeAxis(src.width, width);
  const ys = edgeAxis(src.height, height);
  const stride = src.width * 3;
  const out = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const top = ys.lo[y]! * stride;
    const bottom = ys.hi[y]! * stride;
    const dy = ys.frac[y]!;
    for (let x = 0; x < width; x++) {
      const left = xs.lo[x]! * 3;
      const right = xs.hi[x]! * 3;
      const dx = xs.frac[x]!;
      const q = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        // Same association as skimage's bilinear_interpolation, so the results match bit for bit.
        const t = (1 - dx) * data[top + left + c]! + dx * data[top + right + c]!;
        const b = (1 - dx) * data[bottom + left + c]! + dx * data[bottom + right + c]!;
        out[q + c] = (1 - dy) * t + dy * b;
      }
    }
  }
  return { data: out, width, height };
}

/**
 * PIL's `Image.new(color).paste(image, ((W − w) // 2, (H − h) // 2))`: the image at an integer offset, floor
 * to the left and top, on a canvas of `color`. Keeps the sample type of the source.
 */
export function padColor(src: Raster, width: number, height: number, color: Rgb): Raster {
  if (src.width === width && src.height === height) return src;
  const out = new (src.data.constructor as new (n: number) => Raster['data'])(width * height * 3);
  for (let i = 0; i < out.length; i += 3) {
    out[i] = color[0];
    out[i + 1] = color[1];
    out[i + 2] = color[2];
  }
  const left = PAD_OFFSET.color(src.width, width);
  const top = PAD_OFFSET.color(src.height, height);
  const rowLength = src.width * 3;
  for (let y = 0; y < src.height; y++) {
    const from = y * rowLength;
    out.set(src.data.subarray(from, from + rowLength), ((top + y) * width + left) * 3);
  }
  return { data: out, width, height };
}
