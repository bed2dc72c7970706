/** The ensemble graph against its members run alone and combined in TypeScript, on random inputs. */
import { describe, expect, it } from 'vitest';
import { buildEnsemble, type MemberSource } from '../../src/compose/ensemble.ts';
import { decodeModel } from '../../src/graph/index.ts';
import { encodeModel } from '../../src/graph/surgery.ts';
import { ModelSession } from '../../src/infer/session.ts';
import { inputDims, modelInputs } from '../../src/infer/model-io.ts';
import { Rng } from '../../src/models/random.ts';
import { combineInTs, threeMembers, type TinyMember } from './_members.ts';

const N = 3;

function randomInput(rng: Rng, size: number): Float32Array {
  return Float32Array.from({ length: size }, () => rng.normal());
}

/** Each member alone on its input: probabilities by tag name, per image. */
async function membersAlone(members: readonly TinyMember[], inputs: readonly Float32Array[]): Promise<Map<string, number>[][]> {
  return Promise.all(members.map(async (m, k) => {
    const s = await ModelSession.create(m.model, { threads: 1 });
    const out = (await s.run({ [m.manifest.input.name]: { data: inputs[k]!, dims: inputDims(m.manifest.preprocess, N) } }))[m.manifest.output.name]!.data;
    await s.release();
    const T = m.manifest.tags.length;
    return Array.from({ length: N }, (_, i) => new Map(m.manifest.tags.map((t, j) => {
      const v = out[i * T + j]!;
      return [t.name, m.manifest.output.activation === 'logits' ? 1 / (1 + Math.exp(-v)) : v];
    })));
  }));
}

const sources = (members: readonly TinyMember[]): MemberSource[] => members.map((m) => ({ where: m.manifest.name, manifest: m.manifest, model: m.model }));

describe('ensemble graph', () => {
  const members = threeMembers();
  for (const [mode, weights] of [['logit-mean', undefined], ['prob-mean', undefined], ['weighted', [0.5, 0.3, 0.2]], ['logit-mean', [2, 1, 1]]] as const) {
    it(`${mode}${weights ? ` weights ${weights.join(',')}` : ''}: equals the members alone combined in TypeScript (mismatched tags, sizes, layouts)`, async () => {
      const built = buildEnsemble(sources(members), { combine: mode, weights });
      const inputs = modelInputs(built.manifest);
      expect(inputs.map((i) => [i.name, i.preprocess.layout, i.preprocess.width, i.preprocess.height])).toEqual([['input', 'NHWC', 16, 16], ['input_1', 'NCHW', 20, 12]]);
      expect(built.manifest.ensemble!.members.map((m) => m.input)).toEqual(['input', 'input_1', 'input']);
      const union = built.manifest.tags.map((t) => t.name);
      expect(union).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);

      const rng = new Rng(11);
      const xa = randomInput(rng, N * 16 * 16 * 3), xb = randomInput(rng, N * 12 * 20 * 3);
      const alone = await membersAlone(members, [xa, xb, xa]);
      const s = await ModelSession.create(built.model, { threads: 1 });
      const got = (await s.run({ input: { data: xa, dims: inputDims(inputs[0]!.preprocess, N) }, input_1: { data: xb, dims: inputDims(inputs[1]!.preprocess, N) } }))['predictions']!.data;
      await s.release();
      const w = weights ? weights.map((x) => x / weights.reduce((a, b) => a + b, 0)) : [1 / 3, 1 / 3, 1 / 3];
      const combineMode = mode === 'weighted' ? 'prob-mean' : mode;
      for (let i = 0; i < N; i++) {
        const want = combineInTs(alone.map((m) => m[i]!), w, union, combineMode);
        Array.from(got.subarray(i * union.length, (i + 1) * union.length)).forEach((v, u) => expect(v, `image ${i} tag ${union[u]}`).toBeCloseTo(want[u]!, 5));
      }
      // tag e is B's alone and f is C's alone: the ensemble gives exactly that member's probability there
      expect(got[4]).toBeCloseTo(alone[1]![0]!.get('e')!, 6);
      expect(got[5]).toBeCloseTo(alone[2]![0]!.get('f')!, 6);
    });
  }

  it('random: the stacked output holds every member exactly, unknown tags filled with the mean', async () => {
    const built = buildEnsemble(sources(members), { combine: 'random' });
    expect(built.manifest.ensemble).toMatchObject({ combine: 'random', memberOutput: 'member_probabilities' });
    const rng = new Rng(5);
    const xa = randomInput(rng, N * 16 * 16 * 3), xb = randomInput(rng, N * 12 * 20 * 3);
    const alone = await membersAlone(members, [xa, xb, xa]);
    const s = await ModelSession.create(built.model, { threads: 1 });
    const out = await s.run({ input: { data: xa, dims: [N, 16, 16, 3] }, input_1: { data: xb, dims: [N, 3, 12, 20] } });
    await s.release();
    const stacked = out['member_probabilities']!, mean = out['predictions']!.data;
    expect(stacked.dims).toEqual([N, 3, 6]);
    const union = built.manifest.tags.map((t) => t.name);
    for (let i = 0; i < N; i++) for (let k = 0; k < 3; k++) union.forEach((tag, u) => {
      const own = alone[k]![i]!.get(tag);
      expect(stacked.data[(i * 3 + k) * 6 + u], `image ${i} member ${k} tag ${tag}`).toBeCloseTo(own ?? mean[i * 6 + u]!, 6);
    });
  });

  it('averages the members\' per-tag thresholds over the members that know each tag', () => {
    const built = buildEnsemble(sources(members), { combine: 'logit-mean' });
    // a: 0.3 in A, 0.5 in C; c: 0.3 in B, 0.5 in A; b: 0.3 in C, 0.5 in A; d, e, f: 0.5
    expect(built.manifest.thresholds).toEqual({ default: 0.5, tags: { a: 0.4, b: 0.4, c: 0.4 } });
  });

  it('refuses one member, a wrong weight count, negative weights, weighted without weights', () => {
    const s = sources(members);
    expect(() => buildEnsemble(s.slice(0, 1), { combine: 'logit-mean' })).toThrow(/at least 2 member bundles but received 1/);
    expect(() => buildEnsemble(s, { combine: 'weighted', weights: [1, 2] })).toThrow(/one --weights value per member \(3\) but received 2/);
    expect(() => buildEnsemble(s, { combine: 'weighted', weights: [1, -1, 2] })).toThrow(/≥ 0 but received -1 for member 2/);
    expect(() => buildEnsemble(s, { combine: 'weighted' })).toThrow(/needs --weights/);
    expect(() => buildEnsemble(s, { combine: 'weighted', weights: [0, 1, 1] })).not.toThrow();
    // d is known to A and B only
    expect(() => buildEnsemble(s, { combine: 'weighted', weights: [0, 0, 1] })).toThrow(/tag c is known only by members of weight 0/);
  });
});

describe('members at different opsets', () => {
  const [a, b] = threeMembers();
  /** Member a as if exported at `opset`, with an extra node of `op` (its output unused) when asked. */
  const at = (opset: number, op?: string) => {
    const model = decodeModel(a!.model);
    model.opsetImport = [{ domain: '', version: opset }];
    if (op) model.graph!.node!.push({ opType: op, name: 'extra', input: ['scores'], output: ['extra_out'], attribute: [] });
    return { where: 'old-a', manifest: a!.manifest, model: encodeModel(model) };
  };
  const bSource = { where: 'b', manifest: b!.manifest, model: b!.model };

  it('runs an older member whose operators read the same at the newer opset', async () => {
    const built = buildEnsemble([at(12), bSource], { combine: 'logit-mean' });
    expect(decodeModel(built.model).opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 17]]);
    const s = await ModelSession.create(built.model, { threads: 1 });
    const out = await s.run({ input: { data: new Float32Array(16 * 16 * 3).fill(0.5), dims: [1, 16, 16, 3] }, input_1: { data: new Float32Array(12 * 20 * 3).fill(0.1), dims: [1, 3, 12, 20] } });
    await s.release();
    expect(out['predictions']!.dims).toEqual([1, 5]);
  });

  it('refuses one whose operators changed meaning in between, naming them', () => {
    expect(() => buildEnsemble([at(12, 'Softmax'), bSource], { combine: 'logit-mean' })).toThrow(/old-a is exported at opset 12 and another member at 17; its Softmax changed meaning between those versions/);
    expect(() => buildEnsemble([at(13, 'Softmax'), bSource], { combine: 'logit-mean' })).not.toThrow();
  });
});
