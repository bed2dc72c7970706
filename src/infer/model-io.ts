/**
 * How a bundle's model is fed and read: the input tensor's dims for its preprocessing, and its output as
 * probabilities. Browser-safe (no Node imports), so the web UI's in-browser model can share it.
 */
import type { DecodedImage } from '../image/decode.ts';
import type { Defence } from '../image/defence.ts';
import { defendedInput } from '../image/defended-input.ts';
import { preprocess } from '../image/preprocess.ts';
import type { PreprocessSpec } from '../image/spec.ts';
import type { BundleManifest, ModelInput } from './bundle.ts';
import { logit, sigmoid, tagCalibrators } from './calibration.ts';

/** The dims of `n` RGB images preprocessed as `spec` says: [n, 3, h, w] (NCHW) or [n, h, w, 3] (NHWC). */
export function inputDims<N extends number | string>(spec: Pick<PreprocessSpec, 'width' | 'height' | 'layout'>, n: N): (N | number)[] {
  const { width, height, layout } = spec;
  return layout === 'NCHW' ? [n, 3, height, width] : [n, height, width, 3];
}

/**
 * The model's output as probabilities, in place: a logits head gets its sigmoid, a sigmoid head is left as it
 * is, and a calibrated tag gets its calibration (of the logit) instead. `scores` holds whole rows of tags.
 */
export function toProbabilities(scores: Float32Array, manifest: Pick<BundleManifest, 'output' | 'tags' | 'calibration'>): Float32Array {
  const logits = manifest.output.activation === 'logits';
  const calibrators = manifest.calibration ? tagCalibrators(manifest.calibration, manifest.tags.map((t) => t.name)) : null;
  if (!calibrators) {
    if (logits) for (let i = 0; i < scores.length; i++) scores[i] = sigmoid(scores[i]!);
    return scores;
  }
  const n = calibrators.length;
  for (let i = 0; i < scores.length; i++) {
    const c = calibrators[i % n];
    if (c) scores[i] = c(logits ? scores[i]! : logit(scores[i]!));
    else if (logits) scores[i] = sigmoid(scores[i]!);
  }
  return scores;
}

/** The graph's inputs, each with its preprocessing: one for most bundles, one per distinct spec for an ensemble. */
export function modelInputs(m: Pick<BundleManifest, 'input' | 'preprocess' | 'inputs'>): readonly ModelInput[] {
  return m.inputs ?? [{ name: m.input.name, preprocess: m.preprocess }];
}

const floatsOf = (spec: PreprocessSpec) => spec.width * spec.height * 3;

/** Floats one image takes: its tensors for every input, laid end to end in `inputs` order. */
export function imageFloats(inputs: readonly ModelInput[]): number {
  return inputs.reduce((n, i) => n + floatsOf(i.preprocess), 0);
}

/** One image prepared for every input, written at `offset` of `out` (or a new array). The image is read, not changed. */
export function preprocessInputs(image: DecodedImage, inputs: readonly ModelInput[], out?: Float32Array, offset = 0): Float32Array {
  const data = out ?? new Float32Array(imageFloats(inputs));
  let at = offset;
  for (const { preprocess: spec } of inputs) {
    preprocess(image, spec, data, at);
    at += floatsOf(spec);
  }
  return data;
}

/** preprocessInputs through an input-transformation defence (src/image/defence.ts): each input defended on its own. */
export async function defendedInputs(image: DecodedImage, inputs: readonly ModelInput[], defence: Defence | null, random: () => number, out?: Float32Array, offset = 0): Promise<Float32Array> {
  if (!defence) return preprocessInputs(image, inputs, out, offset);
  const data = out ?? new Float32Array(imageFloats(inputs));
  let at = offset;
  for (const { preprocess: spec } of inputs) {
    await defendedInput(image, spec, defence, random, data, at);
    at += floatsOf(spec);
  }
  return data;
}

/**
 * The feeds for `n` images laid out as preprocessInputs writes them (image by image). A single input is the
 * batch itself; several are gathered into one tensor each.
 */
export function inputFeeds(inputs: readonly ModelInput[], batch: Float32Array, n: number): Record<string, { data: Float32Array; dims: number[] }> {
  if (inputs.length === 1) return { [inputs[0]!.name]: { data: batch, dims: inputDims(inputs[0]!.preprocess, n) } };
  const per = imageFloats(inputs);
  const feeds: Record<string, { data: Float32Array; dims: number[] }> = {};
  let at = 0;
  for (const { name, preprocess: spec } of inputs) {
    const size = floatsOf(spec);
    const data = new Float32Array(n * size);
    for (let i = 0; i < n; i++) data.set(batch.subarray(i * per + at, i * per + at + size), i * size);
    feeds[name] = { data, dims: inputDims(spec, n) };
    at += size;
  }
  return feeds;
}
