/** Images in, network inputs out: decode (sharp) → preprocess (plain TypeScript, per the bundle's spec). */
import { decodeImage, type DecodeOptions } from './decode.ts';
import { preprocess } from './preprocess.ts';
import type { PreprocessSpec } from './spec.ts';

export { declaredPixels, decodeImage, transcodeToPng, IMAGE_EXTENSIONS, type DecodedImage, type DecodeOptions } from './decode.ts';
export { contentRect, inputToRgb, preprocess, preprocessPixels, writeInput, type ContentRect } from './preprocess.ts';
export { defendedInput } from './defended-input.ts';
export type { Defence, DefenceImage } from './defence.ts';
export * from './defences/index.ts';
export { AUGMENT_OPS, OP_NAMES, augmentImage, type AppliedOp, type AugmentOptions, type AugmentResult, type OpName, type OpSetting } from './augment.ts';
export { frameVisibility, hidesAnything, partVisibility, type Geometry, type Rect } from './augment-geometry.ts';
export { LINE_ART_HIDES } from './line-art.ts';
export { SCREENTONE_HIDES } from './screentone.ts';
export { readMask } from './mask.ts';
export { PRESETS, resolvePreset, type PreprocessSpec, type PresetName, type Rgb } from './spec.ts';

/** Decode then preprocess: one image to a fresh `spec.width · spec.height · 3` tensor. */
export async function loadImageTensor(source: string | Uint8Array, spec: PreprocessSpec, options?: DecodeOptions): Promise<Float32Array> {
  return preprocess(await decodeImage(source, options), spec);
}
