import { afterAll, describe, expect, test } from 'vitest';
import { Rng } from '../../src/models/random.ts';
import { logitsLayerOf } from '../../src/autodiff/step-graph.ts';
import { buildModel } from '../../src/models/registry.ts';
import { withExclusiveGroups } from '../../src/models/exclusive.ts';
import { inputLayer, type ModelSpec } from '../../src/models/spec.ts';
import { goalLoss, type GoalTerms } from '../../src/robust/goals.ts';
import { pgd } from '../../src/robust/pgd.ts';
import { inputToPixels, pixelsToInput } from '../../src/robust/pixel-space.ts';
import { referenceActivations } from '../oracle/reference.ts';
import { centralDifference } from '../oracle/training.ts';
import { compare, outputWidth, randomWeights } from '../autodiff/_harness.ts';
import { preprocessFor, victimOf } from './_victim.ts';

// 15 × 18 test_tiny: asymmetric SAME pads; a BGR order with camie-v2's mean and std, so the map is not the identity
const spec = buildModel('test_tiny', { tags: 4, imageSize: [15, 18] });
const weights = randomWeights(spec, 11);
const pre = preprocessFor(spec);
const [H, W] = inputLayer(spec).shape as [number, number, number];
const T = outputWidth(spec), N = 2, SIZE = H * W * 3;
const victim = victimOf(spec, weights, pre);
afterAll(async () => (await victim).close());

/** The normalisation written out independently of src/robust/pixel-space.ts, in float64. */
function normalise64(x: ArrayLike<number>): Float64Array {
  const src = [2, 1, 0];
  return Float64Array.from({ length: x.length }, (_, i) => {
    const k = i % 3, c = src[k]!, base = i - k;
    return (255 * x[base + c]! * pre.scale - pre.mean[c]!) / pre.std[c]!;
  });
}

/** Random signs and weights; half the tags far inside their hinge (active), half far outside (zero), so the loss is smooth here. */
function randomTerms(rng: Rng): GoalTerms[] {
  return Array.from({ length: N }, () => ({
    sign: Float32Array.from({ length: T }, () => (rng.next() < 0.5 ? -1 : 1)),
    offset: Float32Array.from({ length: T }, (_, t) => (t % 2 ? 40 : -40)),
    weight: Float32Array.from({ length: T }, () => rng.uniform(0.2, 1)),
  }));
}

// the same checks on a model whose tags 0, 2 and 3 are one exclusive group: the graph's logits are then the shifted
// ones model.onnx answers with, and its gradient runs back through the shift (src/autodiff/exclusive-grad.ts)
const grouped = withExclusiveGroups(spec, [[0, 2, 3]]);
const groupedVictim = victimOf(grouped, weights, pre);
afterAll(async () => (await groupedVictim).close());

/** The logits whose sigmoids the oracle's outputs are, in float64: z' = log p − log(1 − p). */
function oracleLogits(s: ModelSpec, x: ArrayLike<number>): Float64Array {
  return referenceActivations(s, weights, x, N).get(s.output)!.data.map((p) => Math.log(p) - Math.log1p(-p));
}

describe.each([['a plain model', spec, victim], ['a model with an exclusive group', grouped, groupedVictim]] as const)('the attack graph on %s: margin loss and input gradient in pixel space', (_, model, attacked) => {
  test('∂loss/∂x matches float64 central differences through the normalisation (BGR, mean, std)', async () => {
    const rng = new Rng(3);
    const x = Float32Array.from({ length: N * SIZE }, () => rng.uniform(0.05, 0.95));
    const terms = randomTerms(rng);
    const r = await (await attacked).gradient(x, N, terms);
    expect(r.grad.length).toBe(N * SIZE);
    const x64 = Float64Array.from(x);
    const objective = () => {
      const logits = model === spec ? referenceActivations(spec, weights, normalise64(x64), N).get(logitsLayerOf(spec))!.data : oracleLogits(model, normalise64(x64));
      return terms.reduce((acc, t, i) => acc + goalLoss(logits, t, i * T), 0);
    };
    const largest = [...r.grad.keys()].sort((a, b) => Math.abs(r.grad[b]!) - Math.abs(r.grad[a]!)).slice(0, 4);
    const idx = [...largest, ...Array.from({ length: 14 }, () => rng.int(x.length))];
    const numeric = idx.map((i) => centralDifference(x64, i, objective, 1e-5));
    const analytic = idx.map((i) => r.grad[i]!);
    const { normRel, maxRel } = compare(analytic, numeric);
    expect(Math.max(...numeric.map(Math.abs)), 'a zero gradient checks nothing').toBeGreaterThan(1e-2);
    expect(normRel).toBeLessThan(1e-4);
    expect(maxRel).toBeLessThan(1e-2);
  });

  test('the graph\'s logits are the inference model\'s, and its loss is Σ w·relu(offset − sign·z) of them', async () => {
    const rng = new Rng(5);
    const x = Float32Array.from({ length: N * SIZE }, () => rng.next());
    const terms = randomTerms(rng).map((t) => ({ ...t, offset: Float32Array.from(t.offset, () => rng.uniform(-2, 2)) }));
    const v = await attacked;
    const r = await v.gradient(x, N, terms);
    const logits = await v.logits(x, N);
    // the inference model answers probabilities: their logits carry float32 rounding of σ near 0 and 1
    for (let i = 0; i < N * T; i++) expect(Math.abs(r.logits[i]! - logits[i]!)).toBeLessThan(1e-3 * Math.max(1, Math.exp(Math.abs(logits[i]!) / 2)));
    for (let i = 0; i < N; i++) expect(r.loss[i]).toBeCloseTo(goalLoss(r.logits, terms[i]!, i * T), 4);
    expect(Math.max(...r.loss)).toBeGreaterThan(0);
  });
});

describe('the attack graph: margin loss and input gradient in pixel space', () => {
  test('the graph with the L∞ step in it takes PGD through the same iterates as the gradient and the separate step', async () => {
    const rng = new Rng(13), v = await victim;
    const x0 = Float32Array.from({ length: N * SIZE }, () => rng.next());
    const terms = randomTerms(rng);
    const run = async (fused: boolean) => {
      const seen: Float32Array[] = [], draws = new Rng(2);
      const r = await pgd((x) => v.gradient(x, N, terms), x0, N, {
        norm: 'linf', eps: 8 / 255, steps: 6, schedule: 'pgd', randomStart: true, rng: () => draws.next(), observe: (x) => seen.push(x.slice()),
        linfStep: fused ? (x, box, eta) => v.linfStep!(x, N, terms, box, eta) : undefined,
      });
      return { ...r, seen };
    };
    const [split, fused] = [await run(false), await run(true)];
    expect(fused.seen).toHaveLength(7);
    // every iterate moved, and bit for bit the same: the same nodes on the same gradient
    for (let k = 1; k < 7; k++) expect(fused.seen[k]!.some((p, j) => p !== fused.seen[k - 1]![j])).toBe(true);
    fused.seen.forEach((x, k) => expect(Buffer.compare(Buffer.from(x.buffer), Buffer.from(split.seen[k]!.buffer))).toBe(0));
    expect([...fused.loss]).toEqual([...split.loss]);
  });

  test('pixels → network input → pixels is the identity in both layouts', () => {
    const rng = new Rng(9);
    const x = Float32Array.from({ length: N * SIZE }, () => rng.next());
    for (const layout of ['NHWC', 'NCHW'] as const) {
      const back = inputToPixels(pixelsToInput(x, N, pre, layout), N, { ...pre, layout });
      for (let i = 0; i < x.length; i += 37) expect(back[i]).toBeCloseTo(x[i]!, 5);
    }
    // NCHW puts image 1's blue plane (tensor channel 0 under BGR) right after image 0's three planes
    const nchw = pixelsToInput(x, N, pre, 'NCHW');
    expect(nchw[3 * H * W]).toBeCloseTo(normalise64(x.subarray(SIZE, SIZE + 3))[0]!, 5);
  });
});
