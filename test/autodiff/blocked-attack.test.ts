import { describe, expect, test } from 'vitest';
import { ATTACK_IO, buildInputGradientGraph } from '../../src/autodiff/input-gradient.ts';
import { logitsLayerOf } from '../../src/autodiff/step-graph.ts';
import { NCHWC_DOMAIN, decodeModel } from '../../src/graph/index.ts';
import { ModelSession } from '../../src/infer/session.ts';
import { foldBatchNormLayers } from '../../src/models/export.ts';
import { Rng } from '../../src/models/random.ts';
import type { Layer, ModelSpec } from '../../src/models/spec.ts';
import { goalLoss, type GoalTerms } from '../../src/robust/goals.ts';
import { nchwcBlockSize } from '../../src/train/nchwc-probe.ts';
import { referenceActivations } from '../oracle/reference.ts';
import { centralDifference } from '../oracle/training.ts';
import { compare, randomWeights } from './_harness.ts';

/**
 * The attack graph in ORT's blocked layout (src/autodiff/blocked-layout.ts) on a ResNet in miniature whose
 * channels fill whole blocks: the 7×7/2 stem (its input gradient as stacked phases), the 3×3/2 max pool (two
 * blocked passes, its gradient without indices, on both sizes: the stem gives 8 and 6), an identity block, a
 * bottleneck whose 3×3/2 conv (one conv per input phase) sits beside a 1×1/2 projection (one phase, the rest
 * zero). At `size` 16 every strided input gradient splits into phases; at 11 the strided convs' inputs are odd
 * (11, 3) and each falls back to ConvTranspose.
 */
function attackSpec(width: number, size: number): ModelSpec {
  const conv = (name: string, input: string, filters: number, k: number, s: number): Layer =>
    ({ kind: 'conv', name, input, filters, kernel: [k, k], strides: [s, s], padding: 'same', useBias: false });
  const bn = (name: string, input: string): Layer => ({ kind: 'bn', name, input, epsilon: 1e-3, momentum: 0.99, zeroGamma: false });
  const L: Layer[] = [
    { kind: 'input', name: 'in', shape: [size, size, 3] },
    conv('stem', 'in', width, 7, 2), bn('stem_bn', 'stem'), { kind: 'relu', name: 'r0', input: 'stem_bn' },
    { kind: 'maxpool', name: 'pool', input: 'r0', pool: [3, 3], strides: [2, 2], padding: 'same' },
    conv('a', 'pool', width, 3, 1), bn('a_bn', 'a'), { kind: 'relu', name: 'ra', input: 'a_bn' },
    conv('a2', 'ra', width, 3, 1), bn('a2_bn', 'a2'),
    { kind: 'add', name: 'id', inputs: ['a2_bn', 'pool'] }, { kind: 'relu', name: 'rid', input: 'id' },
    conv('b1', 'rid', width, 1, 1), bn('b1_bn', 'b1'), { kind: 'relu', name: 'rb1', input: 'b1_bn' },
    conv('b', 'rb1', width, 3, 2), bn('b_bn', 'b'), { kind: 'relu', name: 'rb', input: 'b_bn' },
    conv('c', 'rb', 2 * width, 1, 1), bn('c_bn', 'c'),
    conv('proj', 'rid', 2 * width, 1, 2), bn('proj_bn', 'proj'),
    { kind: 'add', name: 'join', inputs: ['c_bn', 'proj_bn'] }, { kind: 'relu', name: 'rj', input: 'join' },
    conv('head', 'rj', 5, 1, 1), { kind: 'gap', name: 'gap', input: 'head' }, { kind: 'sigmoid', name: 'out', input: 'gap' },
  ];
  return { name: 'attack_blocked', layers: L, output: 'out' };
}

const N = 2, T = 5;

/** Half the terms far inside their hinge, half far outside, so the loss is smooth at the point. */
function terms(rng: Rng): GoalTerms[] {
  return Array.from({ length: N }, () => ({
    sign: Float32Array.from({ length: T }, () => (rng.next() < 0.5 ? -1 : 1)),
    offset: Float32Array.from({ length: T }, (_, t) => (t % 2 ? 40 : -40)),
    weight: Float32Array.from({ length: T }, () => rng.uniform(0.2, 1)),
  }));
}

async function run(model: Uint8Array, x: Float32Array, size: number, goals: readonly GoalTerms[]) {
  const session = await ModelSession.create(model, { threads: 1 });
  const stack = (key: keyof GoalTerms) => ({ data: Float32Array.from(goals.flatMap((t) => [...t[key]])), dims: [N, T] });
  const out = await session.run({ [ATTACK_IO.x]: { data: x, dims: [N, size, size, 3] }, [ATTACK_IO.sign]: stack('sign'), [ATTACK_IO.offset]: stack('offset'), [ATTACK_IO.weight]: stack('weight') });
  await session.release();
  return out;
}

const ops = (model: Uint8Array) => decodeModel(model).graph!.node!.map((n) => `${n.domain === NCHWC_DOMAIN ? 'nchwc:' : ''}${n.opType}`);

describe('the attack graph in the blocked layout', async () => {
  const block = await nchwcBlockSize();

  for (const size of [16, 11]) {
    test.skipIf(block === 0)(`${size}×${size}: ∂loss/∂x matches float64 central differences and the NCHW graph`, async () => {
      const spec = attackSpec(block, size), weights = randomWeights(spec, 5), rng = new Rng(8);
      const x = Float32Array.from({ length: N * size * size * 3 }, () => rng.uniform(-1, 1));
      const goals = terms(rng);
      const model = buildInputGradientGraph(spec, weights, { batch: 'B', nchwcBlock: block }).model;
      const [blocked, plain] = [await run(model, x, size, goals), await run(buildInputGradientGraph(spec, weights, { batch: 'B' }).model, x, size, goals)];
      const grad = blocked[ATTACK_IO.inputGrad]!.data;
      expect(compare(grad, plain[ATTACK_IO.inputGrad]!.data).normRel).toBeLessThan(1e-5);
      expect(compare(blocked[ATTACK_IO.loss]!.data, plain[ATTACK_IO.loss]!.data).normRel).toBeLessThan(1e-5);

      const x64 = Float64Array.from(x);
      const objective = () => {
        const logits = referenceActivations(spec, weights, x64, N).get(logitsLayerOf(spec))!.data;
        return goals.reduce((acc, t, i) => acc + goalLoss(logits, t, i * T), 0);
      };
      const largest = [...grad.keys()].sort((a, b) => Math.abs(grad[b]!) - Math.abs(grad[a]!)).slice(0, 4);
      const idx = [...largest, ...Array.from({ length: 16 }, () => rng.int(x.length))];
      const numeric = idx.map((i) => centralDifference(x64, i, objective, 1e-5));
      const { normRel, maxRel } = compare(idx.map((i) => grad[i]!), numeric);
      expect(Math.max(...numeric.map(Math.abs)), 'a zero gradient checks nothing').toBeGreaterThan(1e-2);
      expect(normRel).toBeLessThan(1e-4);
      expect(maxRel).toBeLessThan(1e-2);

      const kinds = ops(model);
      // BN folded; the ReLUs and the residual Adds fused into the convs (the one Relu left is the margin loss's hinge)
      expect(kinds).not.toContain('BatchNormalization');
      expect(kinds.filter((k) => k === 'Relu')).toHaveLength(1);
      // forward: the two residual Adds; backward: the fan-in at the pool and the projection block's input. The two
      // Adds left are the pool's gradient, one per pass (the phase two taps of a window reach)
      expect(kinds.filter((k) => k === 'Add'), 'Adds not fused into a conv').toHaveLength(2);
      // the 3×3/2 pool in two blocked passes, its gradient without indices (maxpool-grad.ts)
      expect(kinds.filter((k) => k === 'nchwc:MaxPool')).toHaveLength(2);
      expect(kinds).not.toContain('MaxPool');
      expect(kinds).not.toContain('ScatterElements');
      // the phase split replaces every ConvTranspose on the even size and none on the odd one
      expect(kinds.filter((k) => k === 'ConvTranspose')).toHaveLength(size % 2 ? 3 : 0);
    }, 60_000);
  }
});

describe('BatchNormalization folded into its conv', () => {
  test('the folded spec has no BN after a conv, the conv takes the BN\'s name and a bias, and the logits agree in float64', () => {
    const spec = attackSpec(4, 13), weights = randomWeights(spec, 3);
    const folded = foldBatchNormLayers(spec, weights);
    expect(folded.spec.layers.filter((l) => l.kind === 'bn')).toHaveLength(0);
    const stem = folded.spec.layers.find((l) => l.name === 'stem_bn');
    expect(stem).toMatchObject({ kind: 'conv', useBias: true, input: 'in' });
    expect(folded.weights.has('stem/kernel')).toBe(false);
    const rng = new Rng(2), x = Float64Array.from({ length: 2 * 13 * 13 * 3 }, () => rng.uniform(-1, 1));
    const [a, b] = [referenceActivations(spec, weights, x, 2).get('gap')!.data, referenceActivations(folded.spec, folded.weights, x, 2).get('gap')!.data];
    expect(compare(b, a).normRel).toBeLessThan(1e-6);
  });
});
