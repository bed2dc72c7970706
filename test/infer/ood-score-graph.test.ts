/**
 * The OOD score computed in the graph (what the web UI's in-browser mode runs) equals src/infer/ood.ts's on the
 * same images, in real ONNX Runtime: every score on the bundled model, energy from inverted probabilities, and
 * knn's TopK in a graph of opset 9 (k an attribute there).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { probeVariant } from '../../src/explain/surgery.ts';
import { onnx } from '../../src/graph/proto.ts';
import { encodeModel } from '../../src/graph/surgery.ts';
import { decodeImage, preprocess } from '../../src/image/index.ts';
import { readBundle, type Bundle } from '../../src/infer/bundle.ts';
import { inputDims } from '../../src/infer/model-io.ts';
import { energyScore, knnScore, logitsOf, readOodParameters, scoreOf, type OodInputs } from '../../src/infer/ood.ts';
import { bundleOodScoreGraph, oodScoreGraph } from '../../src/infer/ood-score-graph.ts';
import { ModelSession } from '../../src/infer/session.ts';
import { createTagger } from '../../src/tagger.ts';
import { circuitImage } from '../helpers/circuit.ts';

let dir: string, bundle: Bundle, images: string[];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-ood-graph-'));
  bundle = await readBundle(path.resolve('models/default'));
  images = [await circuitImage(path.join(dir, 'circuit.png')), path.resolve('samples/heldout-1000002.png'), path.resolve('samples/heldout-1000004.png')];
});

afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** |a − b| ≤ tolerance · max(1, |b|): float32 in the graph against float64 sums in ood.ts. */
const close = (a: number, b: number, tolerance = 1e-4) => expect(Math.abs(a - b), `${a} vs ${b}`).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(b)));

async function runScore(model: Uint8Array, output: string, feeds: Record<string, { data: Float32Array; dims: number[] }>): Promise<Float32Array> {
  const session = await ModelSession.create(model, { threads: 1 });
  try {
    const out = (await session.run(feeds, [output]))[output]!;
    expect(out.dims).toEqual([feeds[Object.keys(feeds)[0]!]!.dims[0], 1]);
    return out.data;
  } finally {
    await session.release();
  }
}

test('the bundled model\'s in-graph scores (mahalanobis raw and L2-normalised, knn, energy) equal ood.ts\'s on a foreign image and two portraits (1e-5)', async () => {
  const { manifest } = bundle;
  const expected: OodInputs[] = [];
  const tagger = await createTagger(bundle);
  try {
    for await (const r of tagger.stream(images, { oodInputs: true })) expected.push(r.oodInputs!);
  } finally {
    await tagger.close();
  }
  const spec = manifest.preprocess, per = spec.width * spec.height * 3;
  const batch = new Float32Array(images.length * per);
  for (const [i, file] of images.entries()) preprocess(await decodeImage(file), spec, batch, i * per);
  const feeds = { [manifest.input.name]: { data: batch, dims: inputDims(spec, images.length) } };

  const served = (await bundleOodScoreGraph(bundle))!;
  const { method } = manifest.ood!;
  expect(served.spec).toEqual({ method, output: served.graph.output, threshold: manifest.ood!.thresholds[method] });
  const params = await readOodParameters(bundle.dir, manifest.ood!);
  expect(Object.keys(params).sort()).toEqual(['knn', 'mahalanobis', 'mahalanobis-l2']);
  const applied = await runScore(served.graph.model, served.graph.output, feeds);
  expected.forEach((x, i) => close(applied[i]!, scoreOf(method, x, params), 1e-5));
  // the circuit board is flagged, the portraits are not: the figures mean something
  expect([...applied].map((s) => s > served.spec.threshold)).toEqual([true, false, false]);

  const model = new Uint8Array(await fs.readFile(bundle.modelPath));
  for (const m of ['mahalanobis', 'mahalanobis-l2', 'knn', 'energy'] as const) {
    const graph = oodScoreGraph(model, manifest.output, manifest.tags.length, m, params);
    const scores = await runScore(graph.model, graph.output, feeds);
    expected.forEach((x, i) => close(scores[i]!, scoreOf(m, x, params), 1e-5));
  }

  // the tag output is untouched, and the explain surgery still finds the head of the served graph (the browser's CAM reloads it)
  const session = await ModelSession.create(served.graph.model, { threads: 1 });
  const probs = (await session.run(feeds, [manifest.output.name]))[manifest.output.name]!.data;
  await session.release();
  const plain = await ModelSession.create(bundle.modelPath, { threads: 1 });
  expect((await plain.run(feeds, [manifest.output.name]))[manifest.output.name]!.data).toEqual(probs);
  await plain.release();
  expect(probeVariant(served.graph.model, manifest.output.name).cam).not.toBeNull();
}, 60_000);

test('energy from a graph that hides its logits: inverted probabilities clamped as logitsOf clamps them, saturated ones included', async () => {
  // x [N, 5] → Sigmoid → probs: nothing to find but the probabilities
  const model = onnx.ModelProto.create({
    irVersion: 7, opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'sigmoid', node: [{ opType: 'Sigmoid', input: ['x'], output: ['probs'], name: 'sigmoid' }],
      input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 5 }] } } } }],
      output: [{ name: 'probs', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 5 }] } } } }],
    },
  });
  const graph = oodScoreGraph(encodeModel(model), { name: 'probs', activation: 'sigmoid' }, 5, 'energy');
  // z = ±40 saturate to exactly 1 and 0 (clamped); ±17 come within float32's last steps of them
  const x = Float32Array.of(0, 2, -3, 40, -40, 5.5, -0.25, 17, -17, 1);
  const session = await ModelSession.create(graph.model, { threads: 1 });
  const out = await session.run({ x: { data: x, dims: [2, 5] } }, ['probs', graph.output]);
  await session.release();
  const probs = out.probs!.data, scores = out[graph.output]!.data;
  expect([probs[3], probs[4]]).toEqual([1, 0]);
  // the reference: ood.ts on the very probabilities the runtime gave, as the tagger does for such a graph
  for (let i = 0; i < 2; i++) close(scores[i]!, energyScore(logitsOf(probs.subarray(i * 5, (i + 1) * 5))));
  expect(() => oodScoreGraph(encodeModel(model), { name: 'probs' }, 5, 'mahalanobis')).toThrow(/pooled features cannot be found/);
  expect(() => oodScoreGraph(encodeModel(model), { name: 'probs' }, 5, 'knn')).toThrow(/the OOD score is knn but the pooled features cannot be found/);
});

test('knn in a graph of opset 9, where TopK takes k as an attribute: each k equals ood.ts\'s, a zero feature vector included', async () => {
  // x [N, 4, 2, 2] → GlobalAveragePool → Flatten → MatMul → Sigmoid: the pooled features are x's channel means
  const tensor = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (d < 0 ? { dimParam: 'N' } : { dimValue: d })) } } } });
  const model = onnx.ModelProto.create({
    irVersion: 4, opsetImport: [{ domain: '', version: 9 }],
    graph: {
      name: 'pooled',
      node: [
        { opType: 'GlobalAveragePool', input: ['x'], output: ['pooled'], name: 'pool' },
        { opType: 'Flatten', input: ['pooled'], output: ['flat'], name: 'flatten', attribute: [{ name: 'axis', type: 2, i: 1 }] },
        { opType: 'MatMul', input: ['flat', 'w'], output: ['logits'], name: 'dense' },
        { opType: 'Sigmoid', input: ['logits'], output: ['probs'], name: 'sigmoid' },
      ],
      initializer: [{ name: 'w', dims: [4, 3], dataType: 1, floatData: [0.5, -1, 0.25, 1, 0, -0.5, -0.25, 0.75, 1, 0, 0.5, -1] }],
      input: [tensor('x', [-1, 4, 2, 2])],
      output: [tensor('probs', [-1, 3])],
    },
  });
  // a bank of 5 unit rows (hand-normalised here, as fitKnnBank would), queries of 3 images
  const rows = [[1, 0, 0, 0], [0.6, 0.8, 0, 0], [0, 0, 1, 0], [0.5, 0.5, 0.5, 0.5], [0, 0.28, 0.96, 0]];
  const bank = Float32Array.from(rows.flat());
  const x = new Float32Array(3 * 16);
  const pooled = [[2, 1, 0.5, 3], [0, 0, 0, 0], [-1, 4, 2, 0.25]];
  pooled.forEach((f, n) => f.forEach((v, c) => x.set([v - 1, v + 1, v + 0.5, v - 0.5], n * 16 + c * 4))); // channel means = f
  for (const k of [1, 3, 5]) {
    const graph = oodScoreGraph(encodeModel(model), { name: 'probs', activation: 'sigmoid' }, 3, 'knn', { knn: { bank, rows: 5, k } });
    const scores = await runScore(graph.model, graph.output, { x: { data: x, dims: [3, 4, 2, 2] } });
    pooled.forEach((f, n) => close(scores[n]!, knnScore(f, { bank, rows: 5, k }), 1e-5));
    expect(scores[1]).toBeCloseTo(Math.SQRT2, 6); // the zero vector: cosine 0 to every row
  }
});
