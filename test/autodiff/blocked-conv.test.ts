import { describe, expect, test } from 'vitest';
import { NCHWC_DOMAIN, decodeModel } from '../../src/graph/index.ts';
import { buildTrainingStep } from '../../src/autodiff/step-graph.ts';
import { FETCH } from '../../src/autodiff/step-graph.ts';
import type { Layer, ModelSpec } from '../../src/models/spec.ts';
import { nchwcBlockSize } from '../../src/train/nchwc-probe.ts';
import { checkAll, compare, runGradients } from './_harness.ts';

/**
 * Channel counts in whole blocks, so ORT's blocked kernels take every spatial conv: the 7×7/2 stem on an
 * NCHW input of 3 channels, 3×3 at stride 1 (forward and input gradient) and 2, SAME padding asymmetric on
 * the odd 13-px input, an identity and a projection shortcut.
 */
function blockedSpec(width: number): ModelSpec {
  const conv = (name: string, input: string, filters: number, k: number, s: number): Layer =>
    ({ kind: 'conv', name, input, filters, kernel: [k, k], strides: [s, s], padding: 'same', useBias: false });
  const bn = (name: string, input: string): Layer => ({ kind: 'bn', name, input, epsilon: 1e-3, momentum: 0.99, zeroGamma: false });
  const L: Layer[] = [
    { kind: 'input', name: 'in', shape: [13, 13, 3] },
    conv('stem', 'in', width, 7, 2), bn('stem_bn', 'stem'), { kind: 'relu', name: 'r0', input: 'stem_bn' },
    conv('a', 'r0', width, 3, 1), bn('a_bn', 'a'), { kind: 'relu', name: 'ra', input: 'a_bn' },
    { kind: 'add', name: 'id', inputs: ['ra', 'r0'] },
    conv('b', 'id', 2 * width, 3, 2), bn('b_bn', 'b'), { kind: 'relu', name: 'rb', input: 'b_bn' },
    conv('c', 'rb', 2 * width, 3, 1), bn('c_bn', 'c'),
    conv('proj', 'id', 2 * width, 1, 2), bn('proj_bn', 'proj'),
    { kind: 'add', name: 'join', inputs: ['c_bn', 'proj_bn'] }, { kind: 'relu', name: 'rj', input: 'join' },
    conv('head', 'rj', 5, 1, 1), { kind: 'gap', name: 'gap', input: 'head' }, { kind: 'sigmoid', name: 'out', input: 'gap' },
  ];
  return { name: 'blocked', layers: L, output: 'out' };
}

const blocked = (model: Uint8Array) => decodeModel(model).graph!.node!.filter((n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv').length;

describe('convs on ORT’s blocked kernels (com.microsoft.nchwc)', async () => {
  const block = await nchwcBlockSize();

  test('the probe finds the kernels’ block on x64', () => {
    if (process.arch === 'x64') expect([8, 16]).toContain(block);
    else expect([0, 4, 8, 16]).toContain(block);
  });

  test.skipIf(block === 0)('every spatial conv and stride-1 input gradient runs blocked; 1×1 convs do not', () => {
    const spec = blockedSpec(block);
    const step = buildTrainingStep(spec, { batch: 2, loss: 'binary_crossentropy', optimizer: { name: 'sgd' }, nchwcBlock: block });
    // forward: stem, a, b, c; input gradients at stride 1: a, c (the stem needs none, b is strided)
    expect(blocked(step.model)).toBe(6);
    expect(blocked(buildTrainingStep(spec, { batch: 2, loss: 'binary_crossentropy', optimizer: { name: 'sgd' } }).model)).toBe(0);
  });

  test.skipIf(block === 0)('gradients match float64 finite differences', async () => {
    const c = { spec: blockedSpec(block), batch: 2, inputGradient: true };
    const p = await runGradients(c, { nchwcBlock: block });
    const errors = checkAll(c, p, 4);
    expect(errors.length).toBeGreaterThan(10);
    for (const e of errors) {
      expect(e.normRel, `${e.key} normRel`).toBeLessThan(5e-4);
      expect(e.maxRel, `${e.key} maxRel`).toBeLessThan(2e-2);
    }
  }, 120_000);

  test.skipIf(block === 0)('the blocked step equals the standard one', async () => {
    const c = { spec: blockedSpec(block), batch: 3, inputGradient: true, seed: 7 };
    const [on, off] = [await runGradients(c, { nchwcBlock: block }), await runGradients(c)];
    const keys = Object.keys(off.outputs).filter((k) => k.startsWith('grad:'));
    expect(keys).toContain(FETCH.inputGrad);
    for (const k of [...keys, FETCH.loss]) expect(compare(on.outputs[k]!.data, off.outputs[k]!.data).normRel, k).toBeLessThan(1e-5);
  }, 60_000);
});
