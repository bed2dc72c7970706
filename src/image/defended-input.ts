/**
 * The one place a defence meets the runtime's preprocessing (tagging, evaluation, the server's preparation
 * workers): the image at the input size in [0, 1], the defence, then the bundle's normalisation. Without a
 * defence it is `preprocess` itself, so undefended inputs stay pixel-exact.
 */
import type { DecodedImage } from './decode.ts';
import type { Defence } from './defence.ts';
import { preprocess, preprocessPixels, writeInput } from './preprocess.ts';
import type { PreprocessSpec } from './spec.ts';

export async function defendedInput(image: DecodedImage, spec: PreprocessSpec, defence: Defence | null, random: () => number, out?: Float32Array, offset = 0): Promise<Float32Array> {
  if (!defence) return preprocess(image, spec, out, offset);
  const defended = await defence.apply(preprocessPixels(image, spec), random);
  return writeInput(defended, spec, out, offset);
}
