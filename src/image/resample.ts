/**
 * Pillow's `Image.resize` for 8-bit RGB, reproduced integer for integer (libImaging/Resample.c and, for
 * NEAREST, Geometry.c). WD, JoyTag and Camie prepare their images with PIL, so the same arithmetic gives the
 * same bytes: separable convolution, support widened by the downscale factor (antialiasing), coefficients
 * normalised then quantised to 22 fractional bits, horizontal pass first with the intermediate clipped to
 * 8 bits, then vertical.
 */
import type { Raster } from './raster.ts';

interface Kernel {
  readonly support: number;
  readonly at: (x: number) => number;
}

const sinc = (x: number): number => (x === 0 ? 1 : Math.sin(x * Math.PI) / (x * Math.PI));

// PIL's BILINEAR, BICUBIC (a = −0.5, the same cubic as sharp's `cubic`) and LANCZOS.
const KERNELS = {
  linear: { support: 1, at: (x) => Math.max(0, 1 - Math.abs(x)) },
  cubic: {
    support: 2,
    at: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
  lanczos3: { support: 3, at: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
} satisfies Record<string, Kernel>;

export type ConvolutionKernel = keyof typeof KERNELS;

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);

/** Per output index: first source index, tap count, and `ksize` fixed-point taps. */
interface Taps {
  readonly first: Int32Array;
  readonly count: Int32Array;
  readonly k: Int32Array;
  readonly ksize: number;
}

function taps(inSize: number, outSize: number, kernel: Kernel): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = kernel.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const k = new Int32Array(outSize * ksize);
  const weights = new Float64Array(ksize);
  // NOTE: multiply by the reciprocal as PIL does; dividing by filterScale rounds differently
  const ss = 1 / filterScale;
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    // NOTE: C's (int) truncates toward zero; the clamp to 0 makes that equal to floor here
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - lo;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      weights[i] = kernel.at((i + lo - center + 0.5) * ss);
      sum += weights[i]!;
    }
    for (let i = 0; i < n; i++) {
      const w = sum === 0 ? weights[i]! : weights[i]! / sum;
      k[o * ksize + i] = Math.trunc(w < 0 ? w * (1 << PRECISION_BITS) - 0.5 : w * (1 << PRECISION_BITS) + 0.5);
    }
    first[o] = lo;
    count[o] = n;
  }
  return { first, count, k, ksize };
}

const clip8 = (acc: number): number => Math.min(255, Math.max(0, acc >> PRECISION_BITS));

function sameBytes(data: Uint8Array, a: number, b: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (data[a + i] !== data[b + i]) return false;
  return true;
}

function horizontal(src: Uint8Array, width: number, height: number, outWidth: number, t: Taps): Uint8Array {
  const out = new Uint8Array(outWidth * height * 3);
  const { first, count, k, ksize } = t;
  const stride = width * 3;
  for (let y = 0, q = 0; y < height; y++) {
    const row = y * stride;
    // Padding makes runs of identical rows (a quarter of a 4:3 image padded square); convolve each run once.
    if (y > 0 && sameBytes(src, row - stride, row, stride)) {
      out.copyWithin(q, q - outWidth * 3, q);
      q += outWidth * 3;
      continue;
    }
    for (let x = 0; x < outWidth; x++, q += 3) {
      let r = HALF, g = HALF, b = HALF;
      for (let i = x * ksize, end = i + count[x]!, p = row + first[x]! * 3; i < end; i++, p += 3) {
        const w = k[i]!;
        r += src[p]! * w;
        g += src[p + 1]! * w;
        b += src[p + 2]! * w;
      }
      out[q] = clip8(r);
      out[q + 1] = clip8(g);
      out[q + 2] = clip8(b);
    }
  }
  return out;
}

function vertical(src: Uint8Array, width: number, outHeight: number, t: Taps): Uint8Array {
  const stride = width * 3;
  const out = new Uint8Array(stride * outHeight);
  const acc = new Int32Array(stride);
  const { first, count, k, ksize } = t;
  for (let y = 0; y < outHeight; y++) {
    acc.fill(HALF);
    for (let i = y * ksize, end = i + count[y]!, row = first[y]! * stride; i < end; i++, row += stride) {
      const w = k[i]!;
      for (let j = 0; j < stride; j++) acc[j]! += src[row + j]! * w;
    }
    for (let j = 0, at = y * stride; j < stride; j++) out[at + j] = clip8(acc[j]!);
  }
  return out;
}

/** `Image.resize((outWidth, outHeight), kernel)` on an 8-bit RGB raster. */
export function resample(src: Raster & { data: Uint8Array }, outWidth: number, outHeight: number, kernel: ConvolutionKernel): Raster {
  let { data } = src;
  if (outWidth !== src.width) data = horizontal(data, src.width, src.height, outWidth, taps(src.width, outWidth, KERNELS[kernel]));
  if (outHeight !== src.height) data = vertical(data, outWidth, outHeight, taps(src.height, outHeight, KERNELS[kernel]));
  return { data, width: outWidth, height: outHeight };
}

/**
 * Camie's fit (its onnx_inference.py): the side that fills the target takes it whole, the other
 * `int(target / aspect)` or `int(target · aspect)`, truncated in float64 (not PIL's `thumbnail`, which rounds).
 */
export function fitSizeTruncated(width: number, height: number, targetWidth: number, targetHeight: number): { width: number; height: number } {
  const aspect = width / height;
  return aspect > targetWidth / targetHeight
    ? { width: targetWidth, height: Math.max(1, Math.trunc(targetWidth / aspect)) }
    : { width: Math.max(1, Math.trunc(targetHeight * aspect)), height: targetHeight };
}

/** PIL's NEAREST: source index `trunc(Σ scale)` starting from scale/2, accumulated as Geometry.c does. */
function nearestIndices(inSize: number, outSize: number): Int32Array {
  const scale = inSize / outSize;
  const index = new Int32Array(outSize);
  let at = scale * 0.5;
  for (let o = 0; o < outSize; o++, at += scale) index[o] = Math.min(Math.trunc(at), inSize - 1);
  return index;
}

export function resampleNearest(src: Raster, outWidth: number, outHeight: number): Raster {
  const xs = nearestIndices(src.width, outWidth);
  const ys = nearestIndices(src.height, outHeight);
  const out = new (src.data.constructor as new (n: number) => Raster['data'])(outWidth * outHeight * 3);
  for (let y = 0; y < outHeight; y++) {
    const row = ys[y]! * src.width * 3;
    for (let x = 0; x < outWidth; x++) {
      const p = row + xs[x]! * 3;
      const q = (y * outWidth + x) * 3;
      out[q] = src.data[p]!;
      out[q + 1] = src.data[p + 1]!;
      out[q + 2] = src.data[p + 2]!;
    }
  }
  return { data: out, width: outWidth, height: outHeight };
}
