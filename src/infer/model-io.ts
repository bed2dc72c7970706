/**
 * How a bundle's model is fed and read: the input tensor's dims for its preprocessing, and its output as
 * probabilities. Browser-safe (no Node imports), so the web UI's in-browser model can share it.
 */
import type { PreprocessSpec } from '../image/spec.ts';
import type { BundleManifest } from './bundle.ts';
import { logit, sigmoid, tagCalibrators } from './calibration.ts';

/** The dims of `n` RGB images preprocessed as `spec` says: [n, 3, h, w] (NCHW) or [n, h, w, 3] (NHWC). */
export function inputDims(spec: Pick<PreprocessSpec, 'width' | 'height' | 'layout'>, n: number): number[] {
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
