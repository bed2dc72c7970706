/**
 * The OOD score computed in the graph (what the web UI's in-browser mode runs) equals src/infer/ood.ts's on the
 * same images, in real ONNX Runtime: both scores on the bundled model, and energy from inverted probabilities.
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
import { energyScore, logitsOf, readMahalanobis, scoreOf, type OodInputs } from '../../src/infer/ood.ts';
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

/** |a − b| ≤ 1e-4 · max(1, |b|): float32 in the graph against float64 sums in ood.ts. */
const close = (a: number, b: number) => expect(Math.abs(a - b), `${a} vs ${b}`).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(b)));

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

test('the bundled model\'s in-graph mahalanobis and energy scores equal ood.ts\'s on a foreign image and two portraits (1e-4)', async () => {
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
  expect(served.spec).toEqual({ method: 'mahalanobis', output: served.graph.output, threshold: manifest.ood!.thresholds.mahalanobis });
  const fit = await readMahalanobis(bundle.dir, manifest.ood!.file!);
  const mahalanobis = await runScore(served.graph.model, served.graph.output, feeds);
  expected.forEach((x, i) => close(mahalanobis[i]!, scoreOf('mahalanobis', x, fit)));
  // the circuit board is flagged, the portraits are not: the figures mean something
  expect([...mahalanobis].map((s) => s > served.spec.threshold)).toEqual([true, false, false]);

  const energyGraph = oodScoreGraph(new Uint8Array(await fs.readFile(bundle.modelPath)), manifest.output, manifest.tags.length, 'energy', null);
  const energy = await runScore(energyGraph.model, energyGraph.output, feeds);
  expected.forEach((x, i) => close(energy[i]!, scoreOf('energy', x, null)));

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
  const graph = oodScoreGraph(encodeModel(model), { name: 'probs', activation: 'sigmoid' }, 5, 'energy', null);
  // z = ±40 saturate to exactly 1 and 0 (clamped); ±17 come within float32's last steps of them
  const x = Float32Array.of(0, 2, -3, 40, -40, 5.5, -0.25, 17, -17, 1);
  const session = await ModelSession.create(graph.model, { threads: 1 });
  const out = await session.run({ x: { data: x, dims: [2, 5] } }, ['probs', graph.output]);
  await session.release();
  const probs = out.probs!.data, scores = out[graph.output]!.data;
  expect([probs[3], probs[4]]).toEqual([1, 0]);
  // the reference: ood.ts on the very probabilities the runtime gave, as the tagger does for such a graph
  for (let i = 0; i < 2; i++) close(scores[i]!, energyScore(logitsOf(probs.subarray(i * 5, (i + 1) * 5))));
  expect(() => oodScoreGraph(encodeModel(model), { name: 'probs' }, 5, 'mahalanobis', null)).toThrow(/pooled features cannot be found/);
});
