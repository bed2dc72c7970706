/**
 * The attack variable is the image the model sees, RGB NHWC in [0, 1] (what a defence takes, src/image/defence.ts);
 * the network takes it after the bundle's normalisation: value = (255·x·scale − mean[c]) / std[c], in the
 * bundle's channel order and layout. The map is affine per channel, so its backward is the transposed
 * permutation times the same per-channel factor. The attack graph applies both itself (`pixelMap`); the
 * functions here serve the inference model and the tests.
 */
import type { PixelMap } from '../autodiff/input-gradient.ts';
import type { DecodedImage } from '../image/decode.ts';
import { preprocess } from '../image/preprocess.ts';
import type { PreprocessSpec } from '../image/spec.ts';

type Normalisation = Pick<PreprocessSpec, 'width' | 'height' | 'channelOrder' | 'scale' | 'mean' | 'std'>;
export type Layout = PreprocessSpec['layout'];

interface Channel {
  readonly src: number;
  readonly a: number;
  readonly b: number;
}

/** The normalisation per tensor channel k: its source RGB channel order[k], and value = x·scale[k] + shift[k]. */
export function pixelMap(spec: Normalisation): PixelMap {
  const order = spec.channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  return { order, scale: order.map((c) => (255 * spec.scale) / spec.std[c]!), shift: order.map((c) => -spec.mean[c]! / spec.std[c]!) };
}

function channels(spec: Normalisation): Channel[] {
  const m = pixelMap(spec);
  return m.order.map((src, k) => ({ src, a: m.scale[k]!, b: m.shift[k]! }));
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
  const [c0, c1, c2] = channels(spec) as [Channel, Channel, Channel];
  eachPixel(layout, count, pixels, (i, t, s) => {
    out[t] = x[i + c0.src]! * c0.a + c0.b;
    out[t + s] = x[i + c1.src]! * c1.a + c1.b;
    out[t + 2 * s] = x[i + c2.src]! * c2.a + c2.b;
  });
  return out;
}

/** A preprocessed network input (src/image/preprocess.ts, in `spec.layout`) back to [0, 1] RGB NHWC pixels. */
export function inputToPixels(input: Float32Array, count: number, spec: Normalisation & Pick<PreprocessSpec, 'layout'>): Float32Array {
  const pixels = spec.width * spec.height, out = new Float32Array(count * pixels * 3);
  const [c0, c1, c2] = channels(spec) as [Channel, Channel, Channel];
  eachPixel(spec.layout, count, pixels, (i, t, s) => {
    out[i + c0.src] = (input[t]! - c0.b) / c0.a;
    out[i + c1.src] = (input[t + s]! - c1.b) / c1.a;
    out[i + c2.src] = (input[t + 2 * s]! - c2.b) / c2.a;
  });
  return out;
}

/** The model's view of an image: RGB HWC in [0, 1] at the input resolution. */
export function modelPixels(image: DecodedImage, spec: PreprocessSpec): Float32Array {
  return inputToPixels(preprocess(image, spec), 1, spec);
}
