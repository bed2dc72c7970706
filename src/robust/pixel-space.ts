/**
 * The attack variable is the image the model sees, RGB NHWC in [0, 1] (what a defence takes, src/image/defence.ts);
 * the network takes it after the bundle's normalisation: value = (255·x·scale − mean[c]) / std[c], in the
 * bundle's channel order and layout. The map is affine per channel, so its backward is the transposed
 * permutation times the same per-channel factor.
 */
import type { DecodedImage } from '../image/decode.ts';
import { preprocess } from '../image/preprocess.ts';
import type { PreprocessSpec } from '../image/spec.ts';

type Normalisation = Pick<PreprocessSpec, 'width' | 'height' | 'channelOrder' | 'scale' | 'mean' | 'std'>;
export type Layout = PreprocessSpec['layout'];

/** For each tensor channel k: its source RGB channel, and value = x·a + b. */
function channels(spec: Normalisation): { src: number; a: number; b: number }[] {
  const order = spec.channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  return order.map((c) => ({ src: c, a: (255 * spec.scale) / spec.std[c]!, b: -spec.mean[c]! / spec.std[c]! }));
}

/** Index of (image n, pixel p, tensor channel k) in `layout`. */
function at(layout: Layout, pixels: number, n: number, p: number, k: number): number {
  return layout === 'NHWC' ? (n * pixels + p) * 3 + k : (n * 3 + k) * pixels + p;
}

/** `count` images in [0, 1] (RGB NHWC) → the network input in `layout`. */
export function pixelsToInput(x: Float32Array, count: number, spec: Normalisation, layout: Layout): Float32Array {
  const pixels = spec.width * spec.height, out = new Float32Array(count * pixels * 3);
  channels(spec).forEach(({ src, a, b }, k) => {
    for (let n = 0; n < count; n++) for (let p = 0; p < pixels; p++) out[at(layout, pixels, n, p, k)] = x[(n * pixels + p) * 3 + src]! * a + b;
  });
  return out;
}

/** ∂loss/∂input (in `layout`) → ∂loss/∂x (RGB NHWC pixels in [0, 1]). */
export function inputGradToPixels(grad: Float32Array, count: number, spec: Normalisation, layout: Layout): Float32Array {
  const pixels = spec.width * spec.height, out = new Float32Array(count * pixels * 3);
  channels(spec).forEach(({ src, a }, k) => {
    for (let n = 0; n < count; n++) for (let p = 0; p < pixels; p++) out[(n * pixels + p) * 3 + src] = grad[at(layout, pixels, n, p, k)]! * a;
  });
  return out;
}

/** A preprocessed network input (src/image/preprocess.ts, in `spec.layout`) back to [0, 1] RGB NHWC pixels. */
export function inputToPixels(input: Float32Array, count: number, spec: Normalisation & Pick<PreprocessSpec, 'layout'>): Float32Array {
  const pixels = spec.width * spec.height, out = new Float32Array(count * pixels * 3);
  channels(spec).forEach(({ src, a, b }, k) => {
    for (let n = 0; n < count; n++) for (let p = 0; p < pixels; p++) out[(n * pixels + p) * 3 + src] = (input[at(spec.layout, pixels, n, p, k)]! - b) / a;
  });
  return out;
}

/** The model's view of an image: RGB HWC in [0, 1] at the input resolution. */
export function modelPixels(image: DecodedImage, spec: PreprocessSpec): Float32Array {
  return inputToPixels(preprocess(image, spec), 1, spec);
}
