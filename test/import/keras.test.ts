/**
 * DeepDanbooru's Keras models, written as tf.keras 2.x (.h5) and Keras 3 (.keras) write them, for the
 * resnet_custom_v3 / v4 topologies at a reduced width: the graph rebuilt from model_config must be the
 * one the file was made from, and the imported bundle's probabilities must equal a float64 forward of
 * the same weights to 1e-4.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readKerasH5 } from '../../src/import/keras-h5.ts';
import { readKeras3 } from '../../src/import/keras3.ts';
import { importModel } from '../../src/import/index.ts';
import { buildResNet, type ResNetConfig } from '../../src/models/resnet.ts';
import { decodeSpec } from '../../src/models/spec-file.ts';
import type { Layer, ModelSpec } from '../../src/models/spec.ts';
import { ErrorLog, maxAbsDiff } from '../oracle/compare.ts';
import { referenceForward } from '../oracle/reference.ts';
import { randomImages, randomWeights, runModel, writeReleaseLabels } from './_fixtures.ts';
import { kerasModelFromSpec, writeKeras3, writeKerasH5, type KerasModelJson } from './_keras.ts';

/** The released topologies (stage count and repeats) at toy width. */
const NARROW = {
  resnet_custom_v3: { filters: [8, 16, 32, 32, 64, 128], repeats: [2, 7, 19, 19, 2, 2], head: 'conv-gap', note: 'v3 depth, toy width' },
  resnet_custom_v4: { filters: [8, 16, 32, 32, 32, 64], repeats: [2, 7, 10, 10, 10, 2], head: 'conv-gap', note: 'v4 depth, toy width' },
} as const satisfies Record<string, ResNetConfig>;

const SIZE = 64, GENERAL = 12, CHARACTER = 5, BATCH = 2;
const log = new ErrorLog();
let tmp: string;
const env = () => ({ TAGBOORU_HOME: path.join(tmp, 'home') });

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-keras-'));
});
afterAll(async () => {
  log.print('import: worst probability difference vs the float64 oracle');
  await fs.rm(tmp, { recursive: true, force: true });
});

/** The IR the importer should rebuild: the same layers, without the init-only zeroGamma hint. */
const structure = (layers: readonly Layer[]) => layers.map((l) => (l.kind === 'bn' ? { ...l, zeroGamma: undefined } : l));

describe.each(Object.keys(NARROW) as (keyof typeof NARROW)[])('%s', (arch) => {
  const spec = buildResNet(arch, NARROW[arch], { tags: GENERAL + CHARACTER + 3, imageSize: [SIZE, SIZE] });
  const weights = randomWeights(spec, 3, 0.03);
  const keras = kerasModelFromSpec(spec);
  const x = randomImages(11, BATCH, SIZE, SIZE);
  let expected: Float64Array;
  beforeAll(() => {
    expected = referenceForward(spec, weights, Float64Array.from(x), BATCH);
  });

  it('the oracle sees unsaturated probabilities that depend on the image', () => {
    expect(expected.every((p) => p > 1e-3 && p < 1 - 1e-3)).toBe(true);
    const n = expected.length / BATCH;
    expect(maxAbsDiff(expected.subarray(0, n), expected.subarray(n))).toBeGreaterThan(1e-3);
  });

  it.each(['h5', 'keras'] as const)('.%s: the graph is rebuilt from the config, and the bundle equals the oracle', async (ext) => {
    const dir = path.join(tmp, `${arch}-${ext}`);
    const tags = await writeReleaseLabels(dir, { general: GENERAL, character: CHARACTER, size: SIZE, arch });
    const file = path.join(dir, `model-${arch}.${ext}`);
    await (ext === 'h5' ? writeKerasH5(file, keras, weights) : writeKeras3(file, keras, weights));

    const read = ext === 'h5' ? await readKerasH5(file) : await readKeras3(file, path.join(tmp, `${arch}-work`));
    expect(read.spec.output).toBe(spec.output);
    expect(structure(read.spec.layers)).toEqual(structure(spec.layers));

    const result = await importModel(dir, { name: `${arch}-${ext}` }, env());
    const m = result.manifest;
    expect(result.format).toBe(ext === 'h5' ? 'deepdanbooru-h5' : 'deepdanbooru-keras3');
    expect(m.tags.map((t) => t.name)).toEqual(tags);
    expect(m.tags.filter((t) => t.category === 'general')).toHaveLength(GENERAL);
    expect(m.tags.filter((t) => t.category === 'character')).toHaveLength(CHARACTER);
    expect(m.tags.slice(-3).map((t) => t.category)).toEqual(['rating', 'rating', 'rating']);
    expect(m.preset).toBe('deepdanbooru');
    expect([m.preprocess.width, m.preprocess.height, m.preprocess.pad, m.preprocess.resize]).toEqual([SIZE, SIZE, 'edge', 'area-tf']);
    expect(m.architecture).toBe(arch);
    // the unfolded model for gradcam, saliency and fine-tuning (test/import/gradients.test.ts runs them)
    expect([m.weights, m.spec]).toEqual(['weights.safetensors', 'spec.json']);
    expect(structure(decodeSpec(await fs.readFile(path.join(result.dir, 'spec.json'), 'utf8'), 'spec.json').layers)).toEqual(structure(spec.layers));
    expect(m.provenance.parameters).toBeGreaterThan(0);

    const probs = await runModel(path.join(result.dir, m.model), x, [BATCH, SIZE, SIZE, 3]);
    expect(log.record(`deepdanbooru ${ext} (${arch})`, maxAbsDiff(probs, expected))).toBeLessThanOrEqual(1e-4);
  });
});

/**
 * Every other supported layer class, as a hand-written Keras model: Conv2D with a fused activation,
 * squeeze-excitation (GlobalAveragePooling2D → Reshape → Dense relu → Dense sigmoid → Multiply),
 * AveragePooling2D, Flatten, ReLU, Dropout and a Dense head with its own sigmoid.
 */
describe('squeeze-excitation, Dense, Reshape, Flatten, AveragePooling2D', () => {
  const S = 16, C = 8;
  const L = (class_name: string, name: string, inbound: string[], config: Record<string, unknown> = {}) => ({ class_name, name, inbound, config: { name, trainable: true, dtype: 'float32', ...config } });
  const keras: KerasModelJson = {
    name: 'se_net',
    input: 'input_1',
    output: 'predictions',
    layers: [
      L('InputLayer', 'input_1', [], { batch_input_shape: [null, S, S, 3] }),
      L('Conv2D', 'conv2d', ['input_1'], { filters: C, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: 'relu', use_bias: true }),
      L('BatchNormalization', 'batch_normalization', ['conv2d'], { axis: -1, momentum: 0.99, epsilon: 1e-3, center: true, scale: true }),
      L('GlobalAveragePooling2D', 'global_average_pooling2d', ['batch_normalization'], { data_format: 'channels_last', keepdims: false }),
      L('Reshape', 'reshape', ['global_average_pooling2d'], { target_shape: [1, 1, C] }),
      L('Dense', 'dense', ['reshape'], { units: C / 4, activation: 'relu', use_bias: true }),
      L('Dense', 'dense_1', ['dense'], { units: C, activation: 'sigmoid', use_bias: true }),
      L('Multiply', 'multiply', ['batch_normalization', 'dense_1']),
      L('ReLU', 're_lu', ['multiply'], { max_value: null, negative_slope: 0, threshold: 0 }),
      L('AveragePooling2D', 'average_pooling2d', ['re_lu'], { pool_size: [4, 4], strides: [4, 4], padding: 'valid', data_format: 'channels_last' }),
      L('Dropout', 'dropout', ['average_pooling2d'], { rate: 0.5 }),
      L('Flatten', 'flatten', ['dropout'], { data_format: 'channels_last' }),
      L('Dense', 'predictions', ['flatten'], { units: 6, activation: 'sigmoid', use_bias: true }),
    ],
  };
  /** The same network written directly in the IR, activations as their own layers: the oracle's view. */
  const spec: ModelSpec = {
    name: 'se_net',
    output: 'out',
    layers: [
      { kind: 'input', name: 'input_1', shape: [S, S, 3] },
      { kind: 'conv', name: 'conv2d', input: 'input_1', filters: C, kernel: [3, 3], strides: [1, 1], padding: 'same', useBias: true },
      { kind: 'relu', name: 'conv_relu', input: 'conv2d' },
      { kind: 'bn', name: 'batch_normalization', input: 'conv_relu', epsilon: 1e-3, momentum: 0.99 },
      { kind: 'gap', name: 'gap', input: 'batch_normalization' },
      { kind: 'dense', name: 'dense', input: 'gap', units: C / 4, useBias: true },
      { kind: 'relu', name: 'dense_relu', input: 'dense' },
      { kind: 'dense', name: 'dense_1', input: 'dense_relu', units: C, useBias: true },
      { kind: 'sigmoid', name: 'dense_1_sigmoid', input: 'dense_1' },
      { kind: 'multiply', name: 'multiply', inputs: ['batch_normalization', 'dense_1_sigmoid'] },
      { kind: 'relu', name: 're_lu', input: 'multiply' },
      { kind: 'avgpool', name: 'average_pooling2d', input: 're_lu', pool: [4, 4], strides: [4, 4], padding: 'valid' },
      { kind: 'flatten', name: 'flatten', input: 'average_pooling2d' },
      { kind: 'dense', name: 'predictions', input: 'flatten', units: 6, useBias: true },
      { kind: 'sigmoid', name: 'out', input: 'predictions' },
    ],
  };

  it('.h5 and .keras both equal the oracle', async () => {
    const weights = randomWeights(spec, 5);
    const x = randomImages(2, BATCH, S, S);
    const expected = referenceForward(spec, weights, Float64Array.from(x), BATCH);
    expect(expected.every((p) => p > 1e-3 && p < 1 - 1e-3)).toBe(true);
    for (const ext of ['h5', 'keras'] as const) {
      const dir = path.join(tmp, `se-${ext}`);
      await fs.mkdir(dir, { recursive: true });
      await fs.writeFile(path.join(dir, 'tags.txt'), ['a', 'b', 'c', 'd', 'rating:safe', 'rating:explicit'].join('\n'));
      await fs.writeFile(path.join(dir, 'categories.json'), JSON.stringify([{ name: 'General', start_index: 0 }, { name: 'System', start_index: 4 }]));
      const file = path.join(dir, `model.${ext}`);
      await (ext === 'h5' ? writeKerasH5(file, keras, weights) : writeKeras3(file, keras, weights));
      const result = await importModel(file, { name: `se-${ext}` }, env());
      expect(result.manifest.preprocess.width).toBe(S);
      const probs = await runModel(path.join(result.dir, 'model.onnx'), x, [BATCH, S, S, 3]);
      expect(log.record(`keras layer classes (${ext})`, maxAbsDiff(probs, expected))).toBeLessThanOrEqual(1e-4);
    }
  });
});
