import { describe, expect, test } from 'vitest';
import { separableMaxPool, separableMaxPoolGrad } from '../../src/autodiff/maxpool-grad.ts';
import { Graph, reorderInput, reorderOutput } from '../../src/graph/index.ts';
import { ModelSession } from '../../src/infer/session.ts';
import { Rng } from '../../src/models/random.ts';
import { nchwcBlockSize } from '../../src/train/nchwc-probe.ts';

/** A shape [N,C,H,W], or pads [top, left, bottom, right]. */
type Four = [number, number, number, number];

/**
 * The oracle: each window's gradient to its first maximum in row-major order (padding never a maximum), the
 * element ORT's index MaxPool names; overlapping windows add up.
 */
function firstMaxPool(x: Float32Array, [n, c, h, w]: Four, [kh, kw]: [number, number], [sh, sw]: [number, number], [t, l]: Four, [ho, wo]: [number, number], gy: Float32Array) {
  const y = new Float32Array(n * c * ho * wo), dx = new Float64Array(x.length);
  for (let p = 0; p < n * c; p++) {
    for (let i = 0; i < ho; i++) {
      for (let j = 0; j < wo; j++) {
        let best = -Infinity, at = -1;
        for (let a = 0; a < kh; a++) {
          for (let b = 0; b < kw; b++) {
            const [r, q] = [i * sh - t + a, j * sw - l + b];
            if (r < 0 || r >= h || q < 0 || q >= w) continue;
            const v = x[(p * h + r) * w + q]!;
            if (v > best) [best, at] = [v, (p * h + r) * w + q];
          }
        }
        const o = (p * ho + i) * wo + j;
        y[o] = best;
        dx[at] = dx[at]! + gy[o]!;
      }
    }
  }
  return { y, dx };
}

/**
 * A map with ties everywhere a pool meets them: zeros (what a ReLU leaves), flat patches of one positive value
 * (a plain background after the stem), and values repeated inside a row.
 */
function tiedMap(rng: Rng, [n, c, h, w]: Four): Float32Array {
  return Float32Array.from({ length: n * c * h * w }, (_, i) => {
    const [q, r] = [i % w, Math.floor(i / w) % h];
    if (r < h / 2 && q < w / 2) return 0.5;
    const u = rng.next();
    return u < 0.3 ? 0 : u < 0.5 ? Math.round(u * 8) / 8 : u;
  });
}

async function runPool(block: number, shape: Four, pool: [number, number], strides: [number, number], pads: Four, x: Float32Array, gy: Float32Array) {
  const g = new Graph('pool');
  const [n, c, h, w] = shape;
  const xIn = g.input('x', 'float32', [n, c, h, w]);
  const xb = reorderInput(g, xIn);
  const passes = separableMaxPool(g, xb, pool, strides, pads, block)!;
  const gyIn = g.input('gy', 'float32', passes.y.shape);
  g.output(reorderOutput(g, passes.y), 'y');
  g.output(reorderOutput(g, separableMaxPoolGrad(g, xb, passes, reorderInput(g, gyIn), pool, strides, pads, block)), 'dx');
  const session = await ModelSession.create(g.toModel('pool', {}), { threads: 1 });
  const out = await session.run({ x: { data: x, dims: shape }, gy: { data: gy, dims: passes.y.shape.map(Number) } });
  await session.release();
  return { y: out.y!.data, dx: out.dx!.data, outShape: passes.y.shape.map(Number) };
}

describe('the max pool in two blocked passes and its index-free gradient', async () => {
  const block = await nchwcBlockSize();
  const cases: { name: string; size: number; pool: [number, number]; strides: [number, number]; pads: Four }[] = [
    { name: "3×3/2, TensorFlow's same (pad after)", size: 12, pool: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1] },
    { name: '3×3/2, pad 1 each side', size: 12, pool: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
    { name: '2×2/2, valid', size: 10, pool: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0] },
    { name: '3×2 over strides 2×1', size: 8, pool: [3, 2], strides: [2, 1], pads: [0, 0, 1, 1] },
  ];
  for (const { name, size, pool, strides, pads } of cases) {
    test.skipIf(block === 0)(`${name}: the pool exactly, the gradient to the first maximum as the index path routes it`, async () => {
      const rng = new Rng(size + pool[1]), shape: Four = [2, 2 * block, size, size];
      const ho = Math.floor((size + pads[0] + pads[2] - pool[0]) / strides[0]) + 1, wo = Math.floor((size + pads[1] + pads[3] - pool[1]) / strides[1]) + 1;
      const x = tiedMap(rng, shape), gy = Float32Array.from({ length: 2 * 2 * block * ho * wo }, () => rng.uniform(-1, 1));
      const got = await runPool(block, shape, pool, strides, pads, x, gy);
      const want = firstMaxPool(x, shape, pool, strides, pads, [ho, wo], gy);
      expect(got.outShape).toEqual([2, 2 * block, ho, wo]);
      expect([...got.y]).toEqual([...want.y]);
      // the same support (a tie routed to every tied tap would spread it), the values to the order of the sums
      for (let i = 0; i < x.length; i++) {
        expect(got.dx[i] === 0, `element ${i}`).toBe(want.dx[i] === 0);
        expect(Math.abs(got.dx[i]! - want.dx[i]!)).toBeLessThan(1e-6);
      }
    });
  }

  test.skipIf(block === 0)('geometries that do not split into phases are left to the index path', () => {
    const g = new Graph('pool');
    const map = (c: number, h: number, w: number) => g.input(g.fresh('x'), 'float32', [1, c, h, w]);
    // an odd side; a window narrower than its stride; TensorFlow's same on an odd side; channels short of a block
    expect(separableMaxPool(g, map(block, 11, 12), [3, 3], [2, 2], [0, 0, 1, 1], block)).toBeNull();
    expect(separableMaxPool(g, map(block, 12, 12), [1, 1], [2, 2], [0, 0, 0, 0], block)).toBeNull();
    expect(separableMaxPool(g, map(block, 12, 12), [3, 3], [2, 2], [0, 0, 0, 0], block)).toBeNull();
    expect(separableMaxPool(g, map(block + 1, 12, 12), [3, 3], [2, 2], [0, 0, 1, 1], block)).toBeNull();
    expect(separableMaxPool(g, map(block, 12, 12), [3, 3], [2, 2], [0, 0, 1, 1], block)).not.toBeNull();
  });
});
