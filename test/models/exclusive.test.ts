/**
 * Exclusive tag groups (src/models/exclusive.ts): the exported sigmoid reads each group as one softmax with a
 * "none" class, equal to the float64 oracle, finite where the logits are extreme, the same in the evaluation
 * graph training validates with, and carried by spec.json.
 */
import { describe, expect, it } from 'vitest';
import { FEED, FETCH, buildEvalGraph } from '../../src/autodiff/step-graph.ts';
import { ModelSession } from '../../src/infer/session.ts';
import { exclusiveGroupsOf, withExclusiveGroups } from '../../src/models/exclusive.ts';
import { DEFAULT_OUTPUT, exportInference } from '../../src/models/export.ts';
import { decodeModel } from '../../src/graph/index.ts';
import { findPoolHead } from '../../src/graph/pool-head.ts';
import { Rng } from '../../src/models/random.ts';
import { buildModel } from '../../src/models/registry.ts';
import { variables } from '../../src/models/shapes.ts';
import { decodeSpec, encodeSpec } from '../../src/models/spec-file.ts';
import type { ModelSpec, Weights } from '../../src/models/spec.ts';
import { maxAbsDiff } from '../oracle/compare.ts';
import { exclusiveSigmoid, referenceActivations, tensor } from '../oracle/reference.ts';
import { randomWeights } from '../autodiff/_harness.ts';
import { linearSpec } from '../helpers/linear-spec.ts';

const GROUPS = [[0, 2, 3], [5, 1]];
const TAGS = 7, SIZE = 16, BATCH = 4;

async function predictions(model: Uint8Array, x: Float32Array, batch: number, size: number): Promise<Float32Array> {
  const session = await ModelSession.create(model, { threads: 1, spinning: false });
  try {
    return (await session.run({ input: { data: x, dims: [batch, size, size, 3] } })).predictions!.data;
  } finally {
    await session.release();
  }
}

const groupSums = (p: ArrayLike<number>, tags: number, group: readonly number[]) =>
  Array.from({ length: p.length / tags }, (_, n) => group.reduce((s, k) => s + p[n * tags + k]!, 0));

describe('exported exclusive groups', () => {
  const spec = withExclusiveGroups(buildModel('test_tiny', { tags: TAGS, imageSize: [SIZE, SIZE] }), GROUPS);
  const weights = randomWeights(spec, 4);
  const rng = new Rng(2);
  const x = Float32Array.from({ length: BATCH * SIZE * SIZE * 3 }, () => rng.uniform(0, 1));

  it('equal the float64 oracle; each group sums below 1; the free tags stay sigmoids', async () => {
    const out = await predictions(exportInference(spec, weights), x, BATCH, SIZE);
    const acts = referenceActivations(spec, weights, x, BATCH);
    const oracle = acts.get(spec.output)!.data;
    expect(maxAbsDiff(out, oracle)).toBeLessThan(1e-5);
    for (const group of GROUPS) for (const s of groupSums(out, TAGS, group)) expect(s).toBeLessThan(1);
    // the test can fail: without the groups the same weights give other probabilities, and ones that sum past 1
    const plain = await predictions(exportInference(withExclusiveGroups(spec, []), weights), x, BATCH, SIZE);
    expect(maxAbsDiff(plain, out)).toBeGreaterThan(1e-2);
    for (const t of [4, 6]) for (let n = 0; n < BATCH; n++) expect(out[n * TAGS + t]).toBeCloseTo(plain[n * TAGS + t]!, 6);
  });

  it('the head is still found: CAM and the OOD features read the raw logits before the shift', () => {
    const head = findPoolHead(decodeModel(exportInference(spec, weights)), DEFAULT_OUTPUT)!;
    const plain = findPoolHead(decodeModel(exportInference(withExclusiveGroups(spec, []), weights)), DEFAULT_OUTPUT)!;
    expect(head.head.kind).toBe('matmul');
    expect(head.logits).toBe(plain.logits);
    expect(head.features).toBe(plain.features);
  });

  it('validation during training (the evaluation graph, unfolded BN) gives the same probabilities', async () => {
    const session = await ModelSession.create(buildEvalGraph(spec, 'N'), { threads: 1, spinning: false });
    const feeds = { [FEED.x]: { data: x, dims: [BATCH, SIZE, SIZE, 3] } } as Record<string, { data: Float32Array; dims: number[] }>;
    for (const v of variables(spec)) feeds[FEED.weight(v.key)] = { data: weights.get(v.key)!, dims: [...v.shape] };
    const probs = (await session.run(feeds))[FETCH.probs]!.data;
    await session.release();
    expect(maxAbsDiff(probs, await predictions(exportInference(spec, weights), x, BATCH, SIZE))).toBeLessThan(1e-5);
  });
});

it('logits of ±90 stay finite: the dominant member near 1, the others near 0, as the oracle says', async () => {
  // a linear model whose logits are the first pixel's value times ±90 (and 0)
  const tags = 4, spec: ModelSpec = withExclusiveGroups(linearSpec(1, 1, tags), [[0, 1, 2]]);
  const kernel = Float32Array.from([90, -90, 0, 1, ...new Array<number>(8).fill(0)]); // [3 inputs, 4 tags]: only the red channel counts
  const weights: Weights = new Map([['head/kernel', kernel], ['head/bias', new Float32Array(tags)]]);
  const x = Float32Array.from([1, 0, 0, -1, 0, 0, 0, 0, 0]);
  const out = await predictions(exportInference(spec, weights), x, 3, 1);
  expect(out.every(Number.isFinite)).toBe(true);
  const logits = tensor([90, -90, 0, 1, -90, 90, 0, -1, 0, 0, 0, 0], [3, tags]);
  const oracle = exclusiveSigmoid(logits, [[0, 1, 2]]).data;
  expect(maxAbsDiff(out, oracle)).toBeLessThan(1e-6);
  expect(out[0]).toBeCloseTo(1, 6);
  expect(out[5]).toBeCloseTo(1, 6);
  // all logits 0: each of the three members and "none" get a quarter
  for (const k of [8, 9, 10]) expect(out[k]).toBeCloseTo(0.25, 6);
});

describe('spec.json carries the groups', () => {
  const spec = withExclusiveGroups(buildModel('test_tiny', { tags: TAGS, imageSize: [32, 32] }), GROUPS);

  it('round-trips them', () => {
    const back = decodeSpec(encodeSpec(spec), 'spec.json');
    expect(back).toStrictEqual(spec);
    expect(exclusiveGroupsOf(back)).toEqual(GROUPS);
  });

  const edit = (groups: unknown) => {
    const raw = JSON.parse(encodeSpec(spec)) as { layers: Record<string, unknown>[] };
    raw.layers.at(-1)!.exclusive = groups;
    return JSON.stringify(raw);
  };
  it.each([
    ['a tag index past the output', [[0, 7]], /group 0 names tag index 7; the output has 7 tags/],
    ['a group of one', [[0, 1], [3]], /group 1 has 1 tag; a group needs two or more/],
    ['a tag in two groups', [[0, 1], [1, 2]], /tag index 1 is in two groups/],
    ['not a list of lists', [0, 1], /Expected a list of tag-index lists for layers\[\d+\]\.exclusive/],
  ])('refuses %s', (_, groups, message) => {
    expect(() => decodeSpec(edit(groups), 'spec.json')).toThrow(message);
  });

  it('a model whose output is not a sigmoid cannot take them', () => {
    const logitsOnly: ModelSpec = { ...spec, layers: spec.layers.slice(0, -1), output: spec.layers.at(-2)!.name };
    expect(() => withExclusiveGroups(logitsOnly, GROUPS)).toThrow(/exclusive tags need a sigmoid output/);
    expect(withExclusiveGroups(logitsOnly, [])).toBe(logitsOnly);
  });
});
