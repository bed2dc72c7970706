import { describe, expect, it } from 'vitest';
import { initWeights } from '../../src/models/init.ts';
import { buildModel } from '../../src/models/registry.ts';
import { variables } from '../../src/models/shapes.ts';
import type { ModelSpec } from '../../src/models/spec.ts';

const moments = (xs: Float32Array) => {
  let sum = 0, sq = 0;
  for (const v of xs) {
    sum += v;
    sq += v * v;
  }
  const mean = sum / xs.length;
  return { mean, std: Math.sqrt(sq / xs.length - mean * mean), maxAbs: xs.reduce((m, v) => Math.max(m, Math.abs(v)), 0) };
};
const allEqual = (xs: Float32Array, v: number) => xs.every((x) => x === v);

describe('initWeights', () => {
  const spec = buildModel('test_small', { tags: 5, imageSize: [64, 64] });

  it('creates every variable, in Keras order, with its shape', () => {
    const w = initWeights(spec, 0);
    const vars = variables(spec);
    expect([...w.keys()]).toEqual(vars.map((v) => v.key));
    for (const v of vars) expect(w.get(v.key)!.length, v.key).toBe(v.shape.reduce((p, d) => p * d, 1));
  });

  it('is deterministic per seed and differs across seeds', () => {
    const [a, b, c] = [initWeights(spec, 3), initWeights(spec, 3), initWeights(spec, 4)];
    for (const [key, data] of a) expect(b.get(key), key).toEqual(data);
    expect(c.get('conv2d/kernel')).not.toEqual(a.get('conv2d/kernel'));
    expect(c.get('conv2d_5/kernel')).not.toEqual(a.get('conv2d_5/kernel'));
  });

  it("zeroes gamma of each block's last BN only; other BNs start as identity", () => {
    const w = initWeights(spec, 0);
    const last = new Set(spec.layers.flatMap((l) => (l.kind === 'add' ? [l.inputs[0]!] : [])));
    const bns = spec.layers.filter((l) => l.kind === 'bn');
    expect(last.size).toBe(8);
    for (const { name } of bns) {
      expect(allEqual(w.get(`${name}/gamma`)!, last.has(name) ? 0 : 1), name).toBe(true);
      expect(allEqual(w.get(`${name}/beta`)!, 0) && allEqual(w.get(`${name}/moving_mean`)!, 0) && allEqual(w.get(`${name}/moving_variance`)!, 1), name).toBe(true);
    }
  });

  it('he_normal: std √(2/fan_in), truncated at two (pre-truncation) standard deviations', () => {
    // 256 filters × 256 channels × 3×3: 589,824 draws, fan_in 2304
    const conv: ModelSpec = {
      name: 'one_conv',
      layers: [
        { kind: 'input', name: 'input_1', shape: [4, 4, 256] },
        { kind: 'conv', name: 'conv2d', input: 'input_1', filters: 256, kernel: [3, 3], strides: [1, 1], padding: 'same', useBias: false },
      ],
      output: 'conv2d',
    };
    const { mean, std, maxAbs } = moments(initWeights(conv, 1).get('conv2d/kernel')!);
    const target = Math.sqrt(2 / 2304);
    expect(Math.abs(mean)).toBeLessThan(target * 0.01);
    expect(Math.abs(std / target - 1)).toBeLessThan(0.01);
    const bound = (2 * target) / 0.87962566103423978;
    expect(maxAbs).toBeLessThanOrEqual(bound * (1 + 1e-6));
    expect(maxAbs).toBeGreaterThan(bound * 0.99);
  });

  it('glorot_uniform for dense kernels: within ±√(6/(in+out)), variance limit²/3; bias zero', () => {
    const dense: ModelSpec = {
      name: 'one_dense',
      layers: [
        { kind: 'input', name: 'input_1', shape: [1, 1, 512] },
        { kind: 'flatten', name: 'flatten', input: 'input_1' },
        { kind: 'dense', name: 'dense', input: 'flatten', units: 256, useBias: true },
      ],
      output: 'dense',
    };
    const w = initWeights(dense, 2);
    const { std, maxAbs } = moments(w.get('dense/kernel')!);
    const limit = Math.sqrt(6 / (512 + 256));
    expect(maxAbs).toBeLessThanOrEqual(limit);
    expect(Math.abs(std / (limit / Math.sqrt(3)) - 1)).toBeLessThan(0.01);
    expect(allEqual(w.get('dense/bias')!, 0)).toBe(true);
  });
});
