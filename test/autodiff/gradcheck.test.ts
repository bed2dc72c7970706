import { describe, expect, test } from 'vitest';
import { withExclusiveGroups } from '../../src/models/exclusive.ts';
import { buildModel } from '../../src/models/registry.ts';
import type { Layer, ModelSpec } from '../../src/models/spec.ts';
import { checkAll, runGradients, type Case } from './_harness.ts';

// float32 analytic against float64 numeric: ~1e-6 is typical; deep stacks of BN over a handful of values
// (batch 2 at 1×1) amplify float32 rounding, hence the looser bound for the four-stage model
const NORM_REL = 5e-4;
const MAX_REL = 2e-2;

function expectClose(c: Case, samples = 6, normRel = NORM_REL) {
  return async () => {
    const p = await runGradients(c);
    const errors = checkAll(c, p, samples);
    expect(errors.length).toBeGreaterThan(0);
    const scale = Math.max(...errors.map((e) => e.maxGrad));
    for (const e of errors) {
      // a gradient that is zero in exact arithmetic (BN removes any per-channel shift upstream of it)
      // comes out as float32 noise; judge it against the model's gradient scale
      if (e.maxGrad < 1e-5 * scale && e.maxAbsDiff < 1e-5 * scale) continue;
      expect(e.normRel, `${e.key} normRel (max |g| ${e.maxGrad.toExponential(1)})`).toBeLessThan(normRel);
      expect(e.maxRel, `${e.key} maxRel`).toBeLessThan(MAX_REL);
    }
  };
}

/** A model that exercises every rule the resnets do not: bias, kernel 2, VALID strides, SE, avgpool, dense. */
function coverageSpec(size: number): ModelSpec {
  const L: Layer[] = [
    { kind: 'input', name: 'in', shape: [size, size, 3] },
    { kind: 'conv', name: 'c1', input: 'in', filters: 4, kernel: [2, 2], strides: [1, 1], padding: 'same', useBias: true },
    { kind: 'relu', name: 'r1', input: 'c1' },
    { kind: 'conv', name: 'c2', input: 'r1', filters: 5, kernel: [3, 3], strides: [2, 2], padding: 'valid', useBias: false },
    { kind: 'bn', name: 'b2', input: 'c2', epsilon: 1e-3, momentum: 0.99 },
    { kind: 'maxpool', name: 'mp', input: 'b2', pool: [3, 3], strides: [1, 1], padding: 'same' },
    { kind: 'gap', name: 'se_gap', input: 'mp' },
    { kind: 'dense', name: 'se_d1', input: 'se_gap', units: 2, useBias: true },
    { kind: 'relu', name: 'se_r', input: 'se_d1' },
    { kind: 'dense', name: 'se_d2', input: 'se_r', units: 5, useBias: true },
    { kind: 'sigmoid', name: 'se_s', input: 'se_d2' },
    { kind: 'multiply', name: 'se_mul', inputs: ['mp', 'se_s'] },
    { kind: 'conv', name: 'c3', input: 'se_mul', filters: 6, kernel: [3, 3], strides: [2, 2], padding: 'same', useBias: false },
    { kind: 'avgpool', name: 'ap', input: 'c3', pool: [2, 2], strides: [2, 2], padding: 'valid' },
    { kind: 'flatten', name: 'fl', input: 'ap' },
    { kind: 'dense', name: 'head', input: 'fl', units: 7, useBias: true },
    { kind: 'sigmoid', name: 'out', input: 'head' },
  ];
  return { name: 'coverage', layers: L, output: 'out' };
}

/**
 * Layouts the resnets never produce: a 5×5 VALID stride-2 conv whose last window row stays unused (the
 * swapped-axes weight gradient is cropped), a conv feeding a BN and a ReLU (BN's pending scale cannot be
 * folded into that conv), and a BN after a max pool (no conv to fold it into).
 */
function unfoldedScaleSpec(size: number): ModelSpec {
  const L: Layer[] = [
    { kind: 'input', name: 'in', shape: [size, size, 3] },
    { kind: 'conv', name: 'c1', input: 'in', filters: 4, kernel: [5, 5], strides: [2, 2], padding: 'valid', useBias: false },
    { kind: 'bn', name: 'b1', input: 'c1', epsilon: 1e-3, momentum: 0.99 },
    { kind: 'relu', name: 'r1', input: 'c1' },
    { kind: 'add', name: 'a1', inputs: ['b1', 'r1'] },
    { kind: 'maxpool', name: 'mp', input: 'a1', pool: [2, 2], strides: [2, 2], padding: 'same' },
    { kind: 'bn', name: 'b2', input: 'mp', epsilon: 1e-3, momentum: 0.99 },
    { kind: 'conv', name: 'c2', input: 'b2', filters: 3, kernel: [1, 1], strides: [1, 1], padding: 'same', useBias: true },
    { kind: 'gap', name: 'g', input: 'c2' },
    { kind: 'sigmoid', name: 'out', input: 'g' },
  ];
  return { name: 'unfolded_scale', layers: L, output: 'out' };
}

/** A BN on a map of 24×24 cells: its Σx² and Σgy·x go through the depthwise-conv dot product (channelDot). */
function wideMapSpec(): ModelSpec {
  const L: Layer[] = [
    { kind: 'input', name: 'in', shape: [24, 24, 3] },
    { kind: 'conv', name: 'c1', input: 'in', filters: 4, kernel: [3, 3], strides: [1, 1], padding: 'same', useBias: false },
    { kind: 'bn', name: 'b1', input: 'c1', epsilon: 1e-3, momentum: 0.99 },
    { kind: 'relu', name: 'r1', input: 'b1' },
    { kind: 'conv', name: 'head', input: 'r1', filters: 3, kernel: [1, 1], strides: [1, 1], padding: 'same', useBias: true },
    { kind: 'gap', name: 'g', input: 'head' },
    { kind: 'sigmoid', name: 'out', input: 'g' },
  ];
  return { name: 'wide_map', layers: L, output: 'out' };
}

describe('gradient rules against float64 finite differences', () => {
  test('test_tiny at 16² (asymmetric SAME pads, stride-2 projection, identity shortcut)', expectClose({ spec: buildModel('test_tiny', { tags: 5, imageSize: [16, 16] }), batch: 3 }), 60_000);
  test('test_tiny at 17² (odd sizes, symmetric pads)', expectClose({ spec: buildModel('test_tiny', { tags: 4, imageSize: [17, 17] }), batch: 2 }), 60_000);
  test('a four-stage resnet passes a full check', expectClose({ spec: buildModel('test_small', { tags: 3, imageSize: [41, 41] }), batch: 3 }, 3, 2e-3), 120_000);
  test('bias, kernel 2, VALID stride 2, squeeze-excitation, average pool, flatten, dense', expectClose({ spec: coverageSpec(21), batch: 3 }), 60_000);
  test('cropped 5×5 VALID stride-2 weight gradient; BN scales that cannot be folded into a conv', expectClose({ spec: unfoldedScaleSpec(14), batch: 3 }, 8), 60_000);
  test('BN statistics and gradients on a 576-cell map; a biased 1×1 head pooled first', expectClose({ spec: wideMapSpec(), batch: 2 }, 8), 60_000);
  test('the resnet_152 head (7×7 average pool, flatten, dense)', expectClose({ spec: buildModel('test_tiny_dense', { tags: 3, imageSize: [64, 64] }), batch: 2 }, 3), 120_000);
  test('focal loss', expectClose({ spec: buildModel('test_tiny', { tags: 6, imageSize: [16, 16] }), batch: 2, loss: 'focal_loss' }, 4), 60_000);
  test('asymmetric loss', expectClose({ spec: buildModel('test_tiny', { tags: 6, imageSize: [16, 16] }), batch: 2, loss: 'asymmetric_loss' }, 4), 60_000);
  for (const loss of ['binary_crossentropy', 'focal_loss', 'asymmetric_loss'] as const) {
    test(`${loss} with a third of the labels unknown (loss mask)`, expectClose({ spec: buildModel('test_tiny', { tags: 6, imageSize: [16, 16] }), batch: 2, loss, unknown: 0.35, seed: 4 }, 4), 60_000);
  }
  // the soft term's own mask, the temperature on both logits, and α mixing it with a masked hard loss
  test('distillation at T = 2 with unknown labels and tags the teacher lacks', expectClose({ spec: buildModel('test_tiny', { tags: 6, imageSize: [16, 16] }), batch: 2, unknown: 0.35, seed: 5, distillation: { alpha: 0.6, temperature: 2, known: 0.7 }, inputGradient: true }, 4), 60_000);
  test('distillation at T = 0.5 over the asymmetric loss', expectClose({ spec: buildModel('test_tiny', { tags: 6, imageSize: [16, 16] }), batch: 2, loss: 'asymmetric_loss', unknown: 0.2, seed: 6, distillation: { alpha: 0.3, temperature: 0.5, known: 0.8 } }, 4), 60_000);
  test('gradient with respect to the input image', expectClose({ spec: buildModel('test_tiny', { tags: 3, imageSize: [16, 16] }), batch: 2, inputGradient: true }, 12), 60_000);
  // two groups of exclusive tags (one softmax each) beside free tags, with unknown labels hiding whole groups
  const grouped = () => withExclusiveGroups(buildModel('test_tiny', { tags: 7, imageSize: [16, 16] }), [[0, 2, 3], [5, 1]]);
  test('exclusive tag groups (categorical cross-entropy) with unknown labels', expectClose({ spec: grouped(), batch: 3, unknown: 0.2, seed: 8, inputGradient: true }, 6), 60_000);
  test('exclusive tag groups beside the focal loss', expectClose({ spec: grouped(), batch: 2, loss: 'focal_loss', seed: 9 }, 4), 60_000);
});
