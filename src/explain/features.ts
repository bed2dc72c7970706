/**
 * Feature maps as the methods use them: channel-major planes [C][h·w], whatever layout the model pooled them in
 * (NCHW, NHWC, or tokens laid back on their grid), and weighted sums of them.
 */
import { TagbooruError } from '../errors.ts';
import type { TensorData } from '../infer/session.ts';
import type { FeatureLayout } from '../graph/pool-head.ts';

/** Prefix tokens (class, registers) a token grid may carry before its patches. */
const MAX_PREFIX_TOKENS = 8;

/** The h×w grid of a token sequence of `length`: s² patches, after up to 8 prefix tokens, shaped like the input. */
export function tokenGrid(length: number, input: { width: number; height: number }): { width: number; height: number; prefix: number } {
  for (let prefix = 0; prefix <= MAX_PREFIX_TOKENS && prefix < length; prefix++) {
    const n = length - prefix;
    const height = Math.round(Math.sqrt((n * input.height) / input.width));
    const width = n / height;
    if (Number.isInteger(width) && Math.abs(width / height - input.width / input.height) < 1e-6) return { width, height, prefix };
  }
  throw new TagbooruError('E_MODEL', `the last feature map is a sequence of ${length} tokens, which is not a grid shaped like the ${input.width}×${input.height} input (h·w patches after at most ${MAX_PREFIX_TOKENS} prefix tokens); use gradcam or saliency`);
}

/**
 * Channel-major planes [C][h·w] of a feature output in any layout, and the map size. AveragePool is global
 * only when its window is the map, which is checked here, where the size is first known.
 */
export function featurePlanes(t: TensorData, layout: FeatureLayout, info: { window: readonly [number, number] | null }, input: { width: number; height: number }): { planes: Float32Array; channels: number; width: number; height: number } {
  const d = t.dims;
  const expect = layout === 'tokens' ? 3 : 4;
  if (d.length !== expect) throw new TagbooruError('E_MODEL', `the pooled feature map has shape [${d.join(',')}]; a ${layout} pool expects ${expect} dimensions`);
  let channels: number, width: number, height: number, prefix = 0;
  if (layout === 'NCHW') [channels, height, width] = [d[1]!, d[2]!, d[3]!];
  else if (layout === 'NHWC') [height, width, channels] = [d[1]!, d[2]!, d[3]!];
  else {
    ({ width, height, prefix } = tokenGrid(d[1]!, input));
    channels = d[2]!;
  }
  if (info.window && (info.window[0] !== height || info.window[1] !== width)) {
    throw new TagbooruError('E_MODEL', `the model's AveragePool window ${info.window.join('×')} does not cover its ${height}×${width} feature map, so it is not a global pooling; use gradcam or saliency`);
  }
  if (layout === 'NCHW') return { planes: t.data.subarray(0, channels * height * width), channels, width, height };
  const hw = width * height, planes = new Float32Array(channels * hw), skip = prefix * channels;
  for (let p = 0; p < hw; p++) for (let c = 0; c < channels; c++) planes[c * hw + p] = t.data[skip + p * channels + c]!;
  return { planes, channels, width, height };
}

/** Σ_k w_k · A_k over channel planes; the ReLU is post-processing's (postprocess.ts), at this grid. */
export function weightedSum(planes: Float32Array, hw: number, weights: ArrayLike<number>, channels: ArrayLike<number>): Float32Array {
  const out = new Float32Array(hw);
  for (let j = 0; j < channels.length; j++) {
    const w = weights[j]!, base = channels[j]! * hw;
    if (w !== 0) for (let p = 0; p < hw; p++) out[p]! += w * planes[base + p]!;
  }
  return out;
}

