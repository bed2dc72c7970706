import { describe, expect, test } from 'vitest';
import { poolBeforePointwiseHead } from '../../src/autodiff/pooled-head.ts';
import { buildEvalGraph, FEED, FETCH } from '../../src/autodiff/step-graph.ts';
import { decodeModel } from '../../src/graph/index.ts';
import { ModelSession } from '../../src/infer/session.ts';
import { buildModel } from '../../src/models/registry.ts';
import { variables } from '../../src/models/shapes.ts';
import type { ModelSpec } from '../../src/models/spec.ts';
import { referenceForward } from '../oracle/reference.ts';
import { randomWeights } from './_harness.ts';

describe('the 1×1 head pooled first', () => {
  test('a conv read only by a global average pool moves behind it; the output reads the conv', () => {
    const spec = buildModel('test_tiny', { tags: 5, imageSize: [16, 16] });
    const head = spec.layers.find((l) => l.kind === 'gap')!;
    const conv = spec.layers.find((l) => l.name === (head as { input: string }).input)!;
    const out = poolBeforePointwiseHead(spec);
    const byName = new Map(out.layers.map((l) => [l.name, l]));
    const pooled = out.layers.find((l) => l.kind === 'gap')!;
    expect(pooled).toMatchObject({ input: (conv as { input: string }).input });
    expect(byName.get(conv.name)).toMatchObject({ kind: 'conv', input: pooled.name });
    expect(byName.get(out.output)).toMatchObject({ kind: 'sigmoid', input: conv.name });
    expect(out.layers.length).toBe(spec.layers.length);
  });

  test('a conv with another reader, or with a spatial kernel, stays where it is', () => {
    const layers: ModelSpec['layers'] = [
      { kind: 'input', name: 'in', shape: [8, 8, 3] },
      { kind: 'conv', name: 'c', input: 'in', filters: 2, kernel: [1, 1], strides: [1, 1], padding: 'same', useBias: false },
      { kind: 'gap', name: 'g', input: 'c' },
      { kind: 'gap', name: 'g2', input: 'c' },
      { kind: 'add', name: 'a', inputs: ['g', 'g2'] },
      { kind: 'conv', name: 'k', input: 'in', filters: 2, kernel: [3, 3], strides: [1, 1], padding: 'same', useBias: false },
      { kind: 'gap', name: 'gk', input: 'k' },
      { kind: 'add', name: 'b', inputs: ['a', 'gk'] },
      { kind: 'sigmoid', name: 'out', input: 'b' },
    ];
    const spec: ModelSpec = { name: 'kept', layers, output: 'out' };
    expect(poolBeforePointwiseHead(spec)).toBe(spec);
  });

  test('the validation graph (head pooled first) gives the reference forward’s probabilities', async () => {
    const spec = buildModel('test_tiny', { tags: 4, imageSize: [20, 20] });
    const weights = randomWeights(spec, 3);
    const model = buildEvalGraph(spec, 2);
    // every conv but the head runs as a Conv; the head is one Gemm on the pooled vectors
    const nodes = decodeModel(model).graph!.node!;
    expect(nodes.filter((n) => n.opType === 'Conv').length).toBe(spec.layers.filter((l) => l.kind === 'conv').length - 1);
    expect(nodes.filter((n) => n.opType === 'Gemm').length).toBe(1);
    const x = Float32Array.from({ length: 2 * 20 * 20 * 3 }, (_, i) => Math.sin(i * 0.37));
    const feeds: Record<string, { data: Float32Array; dims: number[] }> = { [FEED.x]: { data: x, dims: [2, 20, 20, 3] } };
    for (const v of variables(spec)) feeds[FEED.weight(v.key)] = { data: weights.get(v.key)!, dims: [...v.shape] };
    const session = await ModelSession.create(model, { threads: 1 });
    const probs = (await session.run(feeds))[FETCH.probs]!.data;
    const ref = referenceForward(spec, weights, Float64Array.from(x), 2);
    for (let i = 0; i < ref.length; i++) expect(probs[i]!).toBeCloseTo(ref[i]!, 5);
    await session.release();
  });
});
