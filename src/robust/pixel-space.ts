/**
 * The attack variable is the image the model sees, RGB NHWC in [0, 1] (what a defence takes, src/image/defence.ts);
 * the network takes it after the bundle's normalisation: value = (255·x·scale − mean[c]) / std[c], in the
 * bundle's channel order and layout. The map is affine per channel, so its backward is the transposed
 * permutation times the same per-channel factor. The attack graph applies both itself (`pixelMap`); the
 * functions here serve the inference model and the tests.
 */
import type { PixelMap, Triple } from '../autodiff/input-gradient.ts';
import type { DecodedImage } from '../image/decode.ts';
import { preprocess } from '../image/preprocess.ts';
import type { PreprocessSpec } from '../image/spec.ts';

type Normalisation = Pick<PreprocessSpec, 'width' | 'height' | 'channelOrder' | 'scale' | 'mean' | 'std'>;
export type Layout = PreprocessSpec['layout'];

/** The normalisation per tensor channel k: its source RGB channel order[k], and value = x·scale[k] + shift[k]. */
export function pixelMap(spec: Normalisation): PixelMap {
  const order: Triple = spec.channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  const each = (f: (c: number) => number): Triple => [f(order[0]), f(order[1]), f(order[2])];
  return { order, scale: each((c) => (255 * spec.scale) / spec.std[c]!), shift: each((c) => -spec.mean[c]! / spec.std[c]!) };
}

/**
 * Calls f(pixel index in NHWC, its first tensor element in `layout`, the tensor's channel stride) for every
 * pixel in memory order. NOTE: one sweep with the three channels unrolled, not one per channel: the score-based
 * attack maps a batch on every query, and three strided sweeps cost a third of a forward pass.
 */
function eachPixel(layout: Layout, count: number, pixels: number, f: (nhwc: number, tensor: number, channelStride: number) => void): void {
  const stride = layout === 'NHWC' ? 1 : pixels;
  for (let n = 0; n < count; n++) {
    for (let p = 0; p < pixels; p++) {
      const nhwc = (n * pixels + p) * 3;
      f(nhwc, layout === 'NHWC' ? nhwc : n * pixels * 3 + p, stride);
    }
  }
}

/** `count` images in [0, 1] (RGB NHWC) → the network input in `layout`. */
export function pixelsToInput(x: Float32Array, count: number, spec: Normalisation, layout: Layout): Float32Array {
  const pixels = spec.width * spec.height, out = new Float32Array(count * pixels * 3);
  const { order: [s0, s1, s2], scale: [a0, a1, a2], shift: [b0, b1, b2] } = pixelMap(spec);
  eachPixel(layout, count, pixels, (i, t, s) => {
    out[t] = x[i + s0]! * a0 + b0;
    out[t + s] = x[i + s1]! * a1 + b1;
    out[t + 2 * s] = x[i + s2]! * a2 + b2;
  });
  return out;
}

/** A preprocessed network input (src/image/preprocess.ts, in `spec.layout`) back to [0, 1] RGB NHWC pixels. */
export function inputToPixels(input: Float32Array, count: number, spec: Normalisation & Pick<PreprocessSpec, 'layout'>): Float32Array {
  const pixels = spec.width * spec.height, out = new Float32Array(count * pixels * 3);
  const { order: [s0, s1, s2], scale: [a0, a1, a2], shift: [b0, b1, b2] } = pixelMap(spec);
  eachPixel(spec.layout, count, pixels, (i, t, s) => {
    out[i + s0] = (input[t]! - b0) / a0;
    out[i + s1] = (input[t + s]! - b1) / a1;
    out[i + s2] = (input[t + 2 * s]! - b2) / a2;
  });
  return out;
}

/** The model's view of an image: RGB HWC in [0, 1] at the input resolution. */
export function modelPixels(image: DecodedImage, spec: PreprocessSpec): Float32Array {
  return inputToPixels(preprocess(image, spec), 1, spec);
}
