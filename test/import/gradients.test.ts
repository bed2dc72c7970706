/**
 * A Keras import is first-class for the gradient methods: the bundle keeps weights.safetensors (the variables
 * before BN folding) and spec.json (the graph rebuilt from model_config). On a squeeze-excitation tagger that is
 * no registered architecture, Grad-CAM at the head's input must equal CAM (DeepDanbooru's head: α_k = w_k/hw),
 * the gradient graph's scores must equal model.onnx's, and saliency must run; train-project takes the weights
 * of an imported test_tiny whole. Damaged bundles get one clear error each.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExplainMethod, ExplainResult } from '../../src/explain/types.ts';
import { importModel } from '../../src/import/index.ts';
import { loadTrainingModel } from '../../src/explain/variants.ts';
import { MANIFEST, SPEC_FILE, WEIGHTS_FILE, readBundle } from '../../src/infer/bundle.ts';
import { createTagger } from '../../src/index.ts';
import { buildModel } from '../../src/models/registry.ts';
import { variables } from '../../src/models/shapes.ts';
import type { Layer, ModelSpec } from '../../src/models/spec.ts';
import { decodeSafetensors } from '../../src/formats/safetensors.ts';
import { createTrainer } from '../../src/train/trainer.ts';
import { maxAbsDiff } from '../oracle/compare.ts';
import { referenceForward } from '../oracle/reference.ts';
import { randomImages, randomWeights, runModel, writeReleaseLabels } from './_fixtures.ts';
import { kerasModelFromSpec, writeKerasH5 } from './_keras.ts';

const S = 32, GENERAL = 4, CHARACTER = 2, TAGS = GENERAL + CHARACTER + 3;

/** Squeeze-excitation and a residual add on a DeepDanbooru head (1×1 conv → GAP → sigmoid), 8×8 at the head. */
const SE: ModelSpec = {
  name: 'se_tagger',
  output: 'activation_5',
  layers: [
    { kind: 'input', name: 'input_1', shape: [S, S, 3] },
    { kind: 'conv', name: 'conv2d', input: 'input_1', filters: 8, kernel: [3, 3], strides: [2, 2], padding: 'same', useBias: false },
    { kind: 'bn', name: 'batch_normalization', input: 'conv2d', epsilon: 1e-3, momentum: 0.99 },
    { kind: 'relu', name: 'activation', input: 'batch_normalization' },
    { kind: 'maxpool', name: 'max_pooling2d', input: 'activation', pool: [2, 2], strides: [2, 2], padding: 'same' },
    { kind: 'conv', name: 'conv2d_1', input: 'max_pooling2d', filters: 8, kernel: [3, 3], strides: [1, 1], padding: 'same', useBias: false },
    { kind: 'bn', name: 'batch_normalization_1', input: 'conv2d_1', epsilon: 1e-3, momentum: 0.99 },
    { kind: 'relu', name: 'activation_1', input: 'batch_normalization_1' },
    { kind: 'gap', name: 'global_average_pooling2d', input: 'activation_1' },
    { kind: 'dense', name: 'dense', input: 'global_average_pooling2d', units: 4, useBias: true },
    { kind: 'relu', name: 'activation_2', input: 'dense' },
    { kind: 'dense', name: 'dense_1', input: 'activation_2', units: 8, useBias: true },
    { kind: 'sigmoid', name: 'activation_3', input: 'dense_1' },
    { kind: 'multiply', name: 'multiply', inputs: ['activation_1', 'activation_3'] },
    { kind: 'add', name: 'add', inputs: ['multiply', 'max_pooling2d'] },
    { kind: 'relu', name: 'activation_4', input: 'add' },
    { kind: 'conv', name: 'conv2d_2', input: 'activation_4', filters: TAGS, kernel: [1, 1], strides: [1, 1], padding: 'same', useBias: false },
    { kind: 'gap', name: 'global_average_pooling2d_1', input: 'conv2d_2' },
    { kind: 'sigmoid', name: 'activation_5', input: 'global_average_pooling2d_1' },
  ],
};
const TINY = buildModel('test_tiny', { tags: TAGS, imageSize: [S, S] });

let tmp: string, se: string, tiny: string, png: Uint8Array;
const env = () => ({ TAGBOORU_HOME: path.join(tmp, 'home') });
const seWeights = randomWeights(SE, 4, 0.5), tinyWeights = randomWeights(TINY, 6, 0.2);
const x = randomImages(21, 1, S, S);

async function importRelease(spec: ModelSpec, weights: Map<string, Float32Array>): Promise<string> {
  const dir = path.join(tmp, spec.name);
  await writeReleaseLabels(dir, { general: GENERAL, character: CHARACTER, size: S, arch: spec.name });
  await writeKerasH5(path.join(dir, `model-${spec.name}.h5`), kerasModelFromSpec(spec), weights);
  return (await importModel(dir, {}, env())).dir;
}

async function explain(bundle: string, methods: readonly ExplainMethod[]): Promise<ExplainResult[]> {
  const tagger = await createTagger(bundle, { threads: 1 });
  try {
    const tags = tagger.tags.map((t) => t.name);
    return await Promise.all(methods.map((method) => tagger.explain({ name: 'x', data: png }, { method, tags, keepInput: true })));
  } finally {
    await tagger.close();
  }
}

/** A copy of a bundle with tagger.json and its files changed. */
async function variant(from: string, name: string, edit: (m: Record<string, unknown>) => void, files: Record<string, string | Uint8Array> = {}): Promise<string> {
  const dir = path.join(tmp, 'variants', name);
  await fs.cp(from, dir, { recursive: true });
  const manifest = JSON.parse(await fs.readFile(path.join(dir, MANIFEST), 'utf8')) as Record<string, unknown>;
  edit(manifest);
  await fs.writeFile(path.join(dir, MANIFEST), JSON.stringify(manifest));
  for (const [file, data] of Object.entries(files)) await fs.writeFile(path.join(dir, file), data);
  return dir;
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-import-gradients-'));
  png = new Uint8Array(await sharp(Uint8Array.from(x, (v) => Math.round(v * 255)), { raw: { width: S, height: S, channels: 3 } }).png().toBuffer());
  [se, tiny] = await Promise.all([importRelease(SE, seWeights), importRelease(TINY, tinyWeights)]);
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const withoutInitHints = (layers: readonly Layer[]) => layers.map((l) => (l.kind === 'bn' ? { ...l, zeroGamma: undefined } : l));

describe('an imported squeeze-excitation tagger (no registered architecture)', () => {
  it('the bundle holds weights.safetensors and spec.json: the file\'s graph and variables, whose forward is model.onnx\'s', async () => {
    const bundle = await readBundle(se);
    expect([bundle.manifest.weights, bundle.manifest.spec, bundle.manifest.architecture]).toEqual([WEIGHTS_FILE, SPEC_FILE, 'se_tagger']);
    expect(decodeSafetensors(await fs.readFile(path.join(se, WEIGHTS_FILE))).metadata.format).toBe('tagbooru-weights');
    const { spec, weights } = await loadTrainingModel(bundle, 'gradcam');
    expect(spec.output).toBe(SE.output);
    expect(withoutInitHints(spec.layers)).toEqual(withoutInitHints(SE.layers));
    expect([...weights.keys()].sort()).toEqual(variables(SE).map((v) => v.key).sort());
    for (const [key, data] of weights) expect(data).toEqual(seWeights.get(key));
    const onnx = await runModel(path.join(se, 'model.onnx'), x, [1, S, S, 3]);
    expect(maxAbsDiff(onnx, referenceForward(spec, weights, Float64Array.from(x), 1))).toBeLessThan(1e-4);
  });

  it('gradcam equals cam to 1e-4 (α_k = w_k/hw)', async () => {
    const [cam, grad] = await explain(se, ['cam', 'gradcam']);
    expect([cam!.method, grad!.method]).toEqual(['cam', 'gradcam']);
    let lit = 0;
    cam!.tags.forEach((t, i) => {
      const g = grad!.tags[i]!;
      expect([g.map.width, g.map.height]).toEqual([t.map.width, t.map.height]);
      expect(maxAbsDiff(t.map.data, g.map.data)).toBeLessThan(1e-4);
      if (Math.max(...t.map.data) > 0) lit++;
    });
    // the equality means something only if the maps are not all zero
    expect(lit).toBeGreaterThan(TAGS / 2);
  });

  it('saliency: an RGB input gradient per tag, each scaled to a maximum of 1', async () => {
    const [r] = await explain(se, ['saliency']);
    for (const t of r!.tags) {
      expect([t.inputMap!.width, t.inputMap!.height, t.inputMap!.channels]).toEqual([S, S, 3]);
      expect(Math.max(...t.inputMap!.data)).toBeCloseTo(1, 6);
      expect(t.map.data.every((v) => v >= 0 && v <= 1)).toBe(true);
    }
    expect(r!.tags[0]!.map.data).not.toEqual(r!.tags[1]!.map.data);
  });
});

describe('damaged or older bundles: one clear error each', () => {
  const cases: [string, (from: string) => Promise<string>, RegExp][] = [
    ['no spec.json, and an architecture tagbooru cannot build', (from) => variant(from, 'no-spec', (m) => delete m.spec),
      /gradcam: .* has no spec\.json, and its architecture cannot be rebuilt: Unknown model "se_tagger"\. Known: resnet_custom_v1, /],
    ['imported by a tagbooru that kept only model.onnx', (from) => variant(from, 'old', (m) => { delete m.spec; delete m.weights; }),
      /gradcam needs the training weights, and .* was imported by an older tagbooru that kept only model\.onnx: import .*se_tagger again with --force/],
    ['a spec.json layer with a bad field', async (from) => {
      const text = (await fs.readFile(path.join(from, SPEC_FILE), 'utf8')).replace('"kernel":[3,3]', '"kernel":[3]');
      return variant(from, 'bad-field', () => undefined, { [SPEC_FILE]: text });
    }, /spec\.json: Expected two positive integers for layers\[1\]\.kernel \(conv2d\) but received an array of length 1/],
    ['weights.safetensors of another model', async (from) => variant(from, 'other-weights', () => undefined, { [WEIGHTS_FILE]: await fs.readFile(path.join(tiny, WEIGHTS_FILE)) }),
      /weights\.safetensors: expected conv2d\/kernel of shape \[8,3,3,3\] for model se_tagger but received \[2,3,7,7\]/],
    ['tagger.json naming a file outside the bundle', (from) => variant(from, 'escape', (m) => (m.spec = '../spec.json')),
      /tagger\.json: spec must be the name of a file inside the bundle, such as "spec\.json"/],
  ];
  it.each(cases)('%s', async (_, make, message) => {
    const dir = await make(se);
    await expect(explain(dir, ['gradcam'])).rejects.toThrow(message);
  });
});

describe('an imported test_tiny (a registered architecture)', () => {
  it('what train-project --source-model starts from: the trainer takes every variable (strict), and predicts as model.onnx', async () => {
    const { tensors } = decodeSafetensors(await fs.readFile(path.join(tiny, WEIGHTS_FILE)));
    const trainer = await createTrainer({ model: 'test_tiny', tags: TAGS, imageSize: [S, S], batchSize: 1, optimizer: { name: 'adam' }, loss: 'binary_crossentropy', threads: 1 });
    try {
      const taken = await trainer.setWeights(new Map([...tensors].map(([k, t]) => [k, t.data])), { strict: true });
      expect(taken.sort()).toEqual(variables(TINY).map((v) => v.key).sort());
      const { probs } = await trainer.evaluate(x.slice(), 1);
      expect(maxAbsDiff(probs, await runModel(path.join(tiny, 'model.onnx'), x, [1, S, S, 3]))).toBeLessThan(1e-5);
    } finally {
      await trainer.close();
    }
  });

  it('without spec.json the architecture is rebuilt by name: the same Grad-CAM', async () => {
    const [withSpec] = await explain(tiny, ['gradcam']);
    const [byName] = await explain(await variant(tiny, 'by-name', (m) => delete m.spec), ['gradcam']);
    withSpec!.tags.forEach((t, i) => expect(maxAbsDiff(t.map.data, byName!.tags[i]!.map.data)).toBeLessThan(1e-6));
  });
});
