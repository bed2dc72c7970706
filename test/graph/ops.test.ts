/**
 * Each op helper against the float64 oracle (tinygrad's helper_test_op): build a one-op graph whose
 * operands are graph inputs, run it in ONNX Runtime, compare. Feature maps are NCHW in the graph and
 * NHWC in the oracle, so each case transposes the oracle's view.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  Graph, add, avgPool2d, batchNorm, conv2d, decodeModel, dense, flatten, globalAvgPool, matmul, maxPool2d, mul, relu, reshape, samePad, sigmoid, sub, transpose,
  type Padding, type Value,
} from '../../src/graph/index.ts';
import { Rng } from '../../src/models/random.ts';
import { ErrorLog, relativeError, uniformArray } from '../oracle/compare.ts';
import * as ref from '../oracle/reference.ts';
import { BATCH, runGraph, staticDims } from './_run.ts';

const TOL = 1e-5;
const log = new ErrorLog();
afterAll(() => log.print('ops: worst relative error vs float64 oracle'));

const rng = new Rng(1234);
const rand = (shape: readonly number[], lo = -1, hi = 1) => ref.tensor(uniformArray(rng, shape.reduce((p, d) => p * d, 1), lo, hi), shape);
const nchw = (x: ref.Tensor) => ref.nhwcToNchw(x);
const nhwc = (x: ref.Tensor) => ref.nchwToNhwc(x);
/** A graph input with a symbolic batch. */
const feed = (g: Graph, name: string, t: ref.Tensor, batched = true) => g.input(name, 'float32', batched ? [BATCH, ...t.shape.slice(1)] : t.shape);

/** Run, check the static shape against ORT's, and compare with the oracle's answer (same layout). */
async function check(category: string, g: Graph, out: Value, feeds: Record<string, ref.Tensor>, expected: ref.Tensor) {
  const batch = Object.values(feeds)[0]!.shape[0]!;
  const got = await runGraph(g, out, feeds);
  expect(got.dims).toEqual(expected.shape);
  expect(staticDims(out, batch)).toEqual(expected.shape);
  expect(log.record(category, relativeError(got.data, expected.data))).toBeLessThanOrEqual(TOL);
  return got;
}

const nodesOf = (g: Graph) => decodeModel(g.toModel()).graph?.node ?? [];
const nodeAttr = (g: Graph, opType: string, attr: string) =>
  nodesOf(g).find((n) => n.opType === opType)?.attribute?.find((a) => a.name === attr)?.ints?.map(Number);

describe('samePad (TF SAME: out = ceil(in/s), the odd pixel goes after)', () => {
  it.each([
    [512, 7, 2, [2, 3, 256]], [299, 7, 2, [3, 3, 150]], [256, 3, 2, [0, 1, 128]], [75, 3, 2, [1, 1, 38]],
    [16, 7, 2, [2, 3, 8]], [13, 7, 2, [3, 3, 7]], [150, 3, 2, [0, 1, 75]], [8, 1, 2, [0, 0, 4]], [5, 2, 1, [0, 1, 5]], [4, 3, 1, [1, 1, 4]],
  ] as const)('size %i, kernel %i, stride %i → %j', (size, k, s, want) => {
    expect(samePad(size, k, s)).toEqual(want);
  });

  it('agrees with the oracle for every size 1–40, kernel 1–7, stride 1–3', () => {
    for (let size = 1; size <= 40; size++) for (let k = 1; k <= 7; k++) for (let s = 1; s <= 3; s++) {
      const o = ref.tfSamePad(size, k, s);
      expect(samePad(size, k, s), `${size}/${k}/${s}`).toEqual([o.before, o.after, o.out]);
    }
  });

  it('dilates the kernel', () => expect(samePad(10, 3, 1, 2)).toEqual([2, 2, 10]));
});

interface ConvCase { size: readonly [number, number]; cin: number; cout: number; k: number; s: number; padding: Padding; bias: boolean }
const CONV_CASES: Record<string, ConvCase> = {
  '3×3/1 on 7': { size: [7, 7], cin: 3, cout: 4, k: 3, s: 1, padding: 'same', bias: false },
  '3×3/1 on 8, bias': { size: [8, 8], cin: 3, cout: 4, k: 3, s: 1, padding: 'same', bias: true },
  '3×3/2 on 7': { size: [7, 7], cin: 4, cout: 3, k: 3, s: 2, padding: 'same', bias: false },
  '3×3/2 on 8 (pad 0,1)': { size: [8, 8], cin: 4, cout: 3, k: 3, s: 2, padding: 'same', bias: false },
  '3×3/2 on 9 (pad 1,1), bias': { size: [9, 9], cin: 2, cout: 5, k: 3, s: 2, padding: 'same', bias: true },
  '3×3/2 on 8×9': { size: [8, 9], cin: 3, cout: 2, k: 3, s: 2, padding: 'same', bias: false },
  'stem 7×7/2 on 13 (pad 3,3)': { size: [13, 13], cin: 3, cout: 4, k: 7, s: 2, padding: 'same', bias: false },
  'stem 7×7/2 on 16 (pad 2,3)': { size: [16, 16], cin: 3, cout: 4, k: 7, s: 2, padding: 'same', bias: false },
  '1×1/2 on 8 (no pad)': { size: [8, 8], cin: 5, cout: 6, k: 1, s: 2, padding: 'same', bias: false },
  '1×1/2 on 9 (no pad), bias': { size: [9, 9], cin: 5, cout: 6, k: 1, s: 2, padding: 'same', bias: true },
  '2×2/1 SAME on 5 (pad 0,1)': { size: [5, 5], cin: 2, cout: 3, k: 2, s: 1, padding: 'same', bias: false },
  '2×2/2 SAME on 7': { size: [7, 7], cin: 2, cout: 3, k: 2, s: 2, padding: 'same', bias: true },
  '3×3/1 VALID on 9': { size: [9, 9], cin: 3, cout: 2, k: 3, s: 1, padding: 'valid', bias: false },
  '3×3/2 VALID on 8, bias': { size: [8, 8], cin: 3, cout: 2, k: 3, s: 2, padding: 'valid', bias: true },
  '3×3/1 explicit pads [0,2,1,0]': { size: [6, 6], cin: 2, cout: 2, k: 3, s: 1, padding: [0, 2, 1, 0], bias: false },
};

describe('conv2d', () => {
  it.each(Object.entries(CONV_CASES))('%s', async (_, c) => {
    const x = rand([2, c.size[0], c.size[1], c.cin]), w = rand([c.cout, c.cin, c.k, c.k]), b = rand([c.cout]);
    const g = new Graph('conv');
    const y = conv2d(g, feed(g, 'x', nchw(x)), feed(g, 'w', w, false), c.bias ? feed(g, 'b', b, false) : null, { strides: [c.s, c.s], padding: c.padding });
    const feeds = { x: nchw(x), w, ...(c.bias ? { b } : {}) };
    await check('conv2d', g, y, feeds, nchw(ref.conv2d(x, w, c.bias ? b.data : null, [c.s, c.s], c.padding)));
  });

  it('pads asymmetrically: mirrored (PyTorch-style) pads give a different answer', async () => {
    const x = rand([1, 16, 16, 3]), w = rand([4, 3, 7, 7]);
    const g = new Graph('stem');
    const y = conv2d(g, feed(g, 'x', nchw(x)), feed(g, 'w', w, false), null, { strides: [2, 2] });
    expect(nodeAttr(g, 'Conv', 'pads')).toEqual([2, 2, 3, 3]);
    const got = await check('conv2d', g, y, { x: nchw(x), w }, nchw(ref.conv2d(x, w, null, [2, 2], 'same')));
    const mirrored = nchw(ref.conv2d(x, w, null, [2, 2], [3, 3, 2, 2]));
    expect(relativeError(got.data, mirrored.data)).toBeGreaterThan(0.1);
  });

  it('names the op and the channels when the kernel does not fit', () => {
    const g = new Graph('bad');
    expect(() => conv2d(g, g.input('x', 'float32', [1, 3, 8, 8]), g.input('w', 'float32', [4, 5, 3, 3]), null, { name: 'stem' })).toThrow(/conv2d stem: input has 3 channels, kernel expects 5/);
  });
});

describe('maxPool2d (−inf padding)', () => {
  // Inputs are all negative: a zero-padded max would return 0 at the edges.
  it.each([8, 9, 13, 16, 5])('3×3/2 SAME on %i with negative inputs', async (size) => {
    const x = rand([2, size, size, 3], -2, -1);
    const g = new Graph('maxpool');
    const y = maxPool2d(g, feed(g, 'x', nchw(x)), [3, 3], [2, 2], 'same');
    const got = await check('maxPool2d', g, y, { x: nchw(x) }, nchw(ref.maxPool2d(x, [3, 3], [2, 2], 'same')));
    expect(Math.max(...got.data)).toBeLessThan(-1);
  });

  it('2×2/2 VALID on 7 (drops the last row and column)', async () => {
    const x = rand([1, 7, 7, 2]);
    const g = new Graph('maxpool');
    const y = maxPool2d(g, feed(g, 'x', nchw(x)), [2, 2], [2, 2], 'valid');
    await check('maxPool2d', g, y, { x: nchw(x) }, nchw(ref.maxPool2d(x, [2, 2], [2, 2], 'valid')));
  });
});

describe('avgPool2d', () => {
  const cases: [string, number, number, number, 'same' | 'valid'][] = [
    ['ap_final 7×7/7 VALID on 16', 16, 7, 7, 'valid'],
    ['2×2/2 VALID on 8', 8, 2, 2, 'valid'],
    ['3×3/2 SAME on 8 (count excludes pad)', 8, 3, 2, 'same'],
    ['3×3/2 SAME on 9 (count excludes pad)', 9, 3, 2, 'same'],
    ['3×3/1 SAME on 5', 5, 3, 1, 'same'],
  ];
  it.each(cases)('%s', async (_, size, k, s, padding) => {
    // Inputs near 1: averaging in the padded zeros would pull edge outputs well below 1.
    const x = rand([2, size, size, 3], 0.9, 1.1);
    const g = new Graph('avgpool');
    const y = avgPool2d(g, feed(g, 'x', nchw(x)), [k, k], [s, s], padding);
    await check('avgPool2d', g, y, { x: nchw(x) }, nchw(ref.avgPool2d(x, [k, k], [s, s], padding)));
  });
});

describe('batchNorm (inference)', () => {
  it('uses the moving statistics and the given epsilon', async () => {
    const x = rand([2, 4, 3, 5]);
    // Variances near epsilon, so an epsilon other than 1e-3 is visible.
    const p = { gamma: rand([5], -1.5, 1.5), beta: rand([5]), mean: rand([5]), variance: rand([5], 1e-3, 1e-2) };
    const g = new Graph('bn');
    const v = (name: keyof typeof p) => feed(g, name, p[name], false);
    const y = batchNorm(g, feed(g, 'x', nchw(x)), v('gamma'), v('beta'), v('mean'), v('variance'), 1e-3);
    const expected = nchw(ref.batchNorm(x, { gamma: p.gamma.data, beta: p.beta.data, mean: p.mean.data, variance: p.variance.data }, 1e-3));
    await check('batchNorm', g, y, { x: nchw(x), ...p }, expected);
  });
});

describe('activations', () => {
  it.each([['relu', relu, ref.relu], ['sigmoid', sigmoid, ref.sigmoid]] as const)('%s', async (name, op, oracle) => {
    const x = rand([3, 4, 5, 2], -20, 20);
    const g = new Graph(name);
    await check(name, g, op(g, feed(g, 'x', nchw(x))), { x: nchw(x) }, nchw(oracle(x)));
  });
});

describe('elementwise with broadcasting', () => {
  it.each([['add', add], ['mul', mul]] as const)('%s of two maps', async (name, op) => {
    const a = rand([2, 3, 4, 5]), b = rand([2, 3, 4, 5]);
    const g = new Graph(name);
    const expected = ref.combine(name === 'add' ? 'add' : 'multiply', [nhwc(a), nhwc(b)]);
    await check(name, g, op(g, feed(g, 'a', a), feed(g, 'b', b)), { a, b }, nchw(expected));
  });

  it.each([['add', add], ['mul', mul]] as const)('%s of [N,C,H,W] and [N,C,1,1] (Keras [h,w,c] ⊙ [c])', async (name, op) => {
    const map = rand([2, 4, 5, 3]), vec = rand([2, 3]), vec4 = ref.tensor(vec.data, [2, 3, 1, 1]);
    const g = new Graph(name);
    const y = op(g, feed(g, 'a', nchw(map)), feed(g, 'b', vec4));
    const expected = ref.combine(name === 'add' ? 'add' : 'multiply', [map, vec]);
    await check(name, g, y, { a: nchw(map), b: vec4 }, nchw(expected));
  });

  it('sub', async () => {
    const a = rand([2, 3, 4, 5]), b = rand([2, 3, 1, 1]);
    const g = new Graph('sub');
    const expected = ref.combine('add', [nhwc(a), ref.tensor(b.data.map((v) => -v), [2, 3])]);
    await check('sub', g, sub(g, feed(g, 'a', a), feed(g, 'b', b)), { a, b }, nchw(expected));
  });

  it('names the op and both shapes when they do not broadcast', () => {
    const g = new Graph('bad');
    const a = g.input('a', 'float32', [2, 3, 4, 5]), b = g.input('b', 'float32', [2, 4, 1, 1]);
    expect(() => add(g, a, b)).toThrow('Add: shapes [2,3,4,5] and [2,4,1,1] do not broadcast');
    expect(() => mul(g, a, b)).toThrow(/^Mul: /);
  });
});

describe('pooling to vectors, flatten, transpose, reshape', () => {
  it('globalAvgPool [N,C,H,W] → [N,C]', async () => {
    const x = rand([3, 5, 4, 6]);
    const g = new Graph('gap');
    await check('globalAvgPool', g, globalAvgPool(g, feed(g, 'x', nchw(x))), { x: nchw(x) }, ref.globalAvgPool(x));
  });

  it('flatten after NCHW→NHWC transpose is Keras Flatten order', async () => {
    const x = rand([2, 3, 4, 5]);
    const g = new Graph('flatten');
    const y = flatten(g, transpose(g, feed(g, 'x', nchw(x)), [0, 2, 3, 1]));
    await check('flatten', g, y, { x: nchw(x) }, ref.flatten(x));
  });

  it.each([[[0, 2, 3, 1]], [[0, 3, 1, 2]], [[1, 0, 3, 2]]] as const)('transpose %j', async (perm) => {
    const x = rand([2, 3, 4, 5]);
    const g = new Graph('transpose');
    await check('transpose', g, transpose(g, feed(g, 'x', x), perm), { x }, ref.transpose(x, perm));
  });

  it.each([
    [[0, -1], [BATCH, 60], [2, 60]],
    [[0, 12, -1], [BATCH, 12, 5], [2, 12, 5]],
    [[0, 0, 1, 1, 20], [BATCH, 3, 1, 1, 20], [2, 3, 1, 1, 20]],
  ] as const)('reshape %j', async (target, outShape, dims) => {
    const x = rand([2, 3, 4, 5]);
    const g = new Graph('reshape');
    await check('reshape', g, reshape(g, feed(g, 'x', x), target, outShape), { x }, ref.tensor(x.data, dims));
  });
});

describe('dense and matmul', () => {
  it.each([[true, 'Gemm'], [false, 'MatMul']] as const)('dense, bias %s → %s', async (withBias, opType) => {
    const x = rand([3, 6]), w = rand([6, 4]), b = rand([4]);
    const g = new Graph('dense');
    const y = dense(g, feed(g, 'x', x), feed(g, 'w', w, false), withBias ? feed(g, 'b', b, false) : null);
    expect(nodesOf(g).map((n) => n.opType)).toEqual([opType]);
    await check('dense', g, y, { x, w, ...(withBias ? { b } : {}) }, ref.dense(x, w, withBias ? b.data : null));
  });

  it('dense names itself and the kernel when widths disagree', () => {
    const g = new Graph('bad');
    expect(() => dense(g, g.input('x', 'float32', [1, 6]), g.input('w', 'float32', [5, 4]), null, 'head')).toThrow('dense head: input width 6, kernel [5,4]');
  });

  it.each([
    ['[N,3,4]·[4,5]', [2, 3, 4], [4, 5]],
    ['[N,3,4]·[N,4,5]', [2, 3, 4], [2, 4, 5]],
  ] as const)('matmul %s', async (_, as, bs) => {
    const a = rand(as), b = rand(bs);
    const g = new Graph('matmul');
    const y = matmul(g, feed(g, 'a', a), feed(g, 'b', b, bs.length === 3));
    await check('matmul', g, y, { a, b }, ref.matmul(a, b));
  });

  it('matmul names the op and the shapes when inner dims disagree', () => {
    const g = new Graph('bad');
    expect(() => matmul(g, g.input('a', 'float32', [2, 3]), g.input('b', 'float32', [4, 5]))).toThrow('MatMul: [2,3] · [4,5]');
  });
});
