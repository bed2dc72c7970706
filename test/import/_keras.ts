/**
 * Writes Keras model files the way Keras itself does, for fixtures:
 *  - legacy HDF5 as tf.keras 2.x `model.save("x.h5")`: root attributes keras_version, backend, model_config;
 *    /model_weights with layer_names, and per layer a weight_names attribute and datasets at
 *    <layer>/<layer>/<var>:0 (kernels HWIO);
 *  - Keras 3 `.keras`: a zip of metadata.json, config.json and model.weights.h5 with
 *    layers/<snake_case(class)>[_n]/vars/<i>.
 * Layer configs are generated from a ModelSpec with the fields tf.keras 2.7 writes.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import h5wasm, { ready } from 'h5wasm/node';
import type { Layer, ModelSpec, Weights } from '../../src/models/spec.ts';
import { writeZip } from './_zip.ts';

export interface KerasLayerJson {
  readonly class_name: string;
  readonly name: string;
  readonly config: Record<string, unknown>;
  readonly inbound: readonly string[];
}

const initializer = (class_name: string) => ({ class_name, config: class_name === 'Zeros' || class_name === 'Ones' ? {} : { seed: null } });

/** The Keras layer a ModelSpec layer was built from, with tf.keras 2.7's config fields. */
export function kerasLayer(l: Layer): KerasLayerJson {
  const base = { name: l.name, trainable: true, dtype: 'float32' };
  switch (l.kind) {
    case 'input':
      return { class_name: 'InputLayer', name: l.name, config: { batch_input_shape: [null, ...l.shape], dtype: 'float32', sparse: false, ragged: false, name: l.name }, inbound: [] };
    case 'conv':
      return {
        class_name: 'Conv2D', name: l.name, inbound: [l.input],
        config: {
          ...base, filters: l.filters, kernel_size: [...l.kernel], strides: [...l.strides], padding: l.padding, data_format: 'channels_last',
          dilation_rate: [1, 1], groups: 1, activation: 'linear', use_bias: l.useBias, kernel_initializer: initializer('HeNormal'),
          bias_initializer: initializer('Zeros'), kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
        },
      };
    case 'bn':
      return {
        class_name: 'BatchNormalization', name: l.name, inbound: [l.input],
        config: {
          ...base, axis: [3], momentum: l.momentum, epsilon: l.epsilon, center: true, scale: true, beta_initializer: initializer('Zeros'),
          gamma_initializer: initializer(l.zeroGamma ? 'Zeros' : 'Ones'), moving_mean_initializer: initializer('Zeros'), moving_variance_initializer: initializer('Ones'),
          beta_regularizer: null, gamma_regularizer: null, beta_constraint: null, gamma_constraint: null,
        },
      };
    case 'relu': case 'sigmoid':
      return { class_name: 'Activation', name: l.name, inbound: [l.input], config: { ...base, activation: l.kind } };
    case 'maxpool': case 'avgpool':
      return {
        class_name: l.kind === 'maxpool' ? 'MaxPooling2D' : 'AveragePooling2D', name: l.name, inbound: [l.input],
        config: { ...base, pool_size: [...l.pool], padding: l.padding, strides: [...l.strides], data_format: 'channels_last' },
      };
    case 'add': case 'multiply':
      return { class_name: l.kind === 'add' ? 'Add' : 'Multiply', name: l.name, inbound: l.inputs, config: base };
    case 'gap':
      return { class_name: 'GlobalAveragePooling2D', name: l.name, inbound: [l.input], config: { ...base, data_format: 'channels_last', keepdims: false } };
    case 'flatten':
      return { class_name: 'Flatten', name: l.name, inbound: [l.input], config: { ...base, data_format: 'channels_last' } };
    case 'dense':
      return {
        class_name: 'Dense', name: l.name, inbound: [l.input],
        config: { ...base, units: l.units, activation: 'linear', use_bias: l.useBias, kernel_initializer: initializer('GlorotUniform'), bias_initializer: initializer('Zeros') },
      };
  }
}

export interface KerasModelJson {
  readonly name: string;
  readonly layers: readonly KerasLayerJson[];
  readonly input: string;
  readonly output: string;
}

export function kerasModelFromSpec(spec: ModelSpec): KerasModelJson {
  return { name: spec.name, layers: spec.layers.map(kerasLayer), input: spec.layers[0]!.name, output: spec.output };
}

/** tf.keras 2.x `model.to_json()` form. */
export function tf2Config(m: KerasModelJson, className = 'Functional'): unknown {
  return {
    class_name: className,
    config: {
      name: m.name,
      layers: m.layers.map((l) => ({ class_name: l.class_name, config: l.config, name: l.name, inbound_nodes: l.inbound.length ? [l.inbound.map((i) => [i, 0, 0, {}])] : [] })),
      input_layers: [[m.input, 0, 0]],
      output_layers: [[m.output, 0, 0]],
    },
  };
}

/** Keras 3 `config.json` form. */
export function keras3Config(m: KerasModelJson): unknown {
  const ref = (name: string) => ({ class_name: '__keras_tensor__', config: { shape: null, dtype: 'float32', keras_history: [name, 0, 0] } });
  const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
  return {
    module: 'keras.src.models.functional',
    class_name: 'Functional',
    config: {
      name: m.name,
      trainable: true,
      layers: m.layers.map((l) => {
        const { batch_input_shape: shape, ragged: _r, ...rest } = l.config;
        const config = l.class_name === 'InputLayer' ? { ...rest, batch_shape: shape } : { ...l.config, dtype: policy };
        const merge = l.class_name === 'Add' || l.class_name === 'Multiply';
        return {
          module: 'keras.layers', class_name: l.class_name, config, registered_name: null, name: l.name,
          inbound_nodes: l.inbound.length ? [{ args: merge ? [l.inbound.map(ref)] : l.inbound.map(ref), kwargs: {} }] : [],
        };
      }),
      input_layers: [m.input, 0, 0],
      output_layers: [m.output, 0, 0],
    },
    registered_name: 'Functional',
  };
}

export interface SavedVar {
  readonly name: string;
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

/** OIHW → HWIO */
function toHwio(w: Float32Array, o: number, i: number, kh: number, kw: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) out[((y * kw + x) * i + b) * o + a] = w[((a * i + b) * kh + y) * kw + x]!;
  return out;
}

/** Each Keras layer's variables in save order, in Keras layout, from IR weights keyed by the same layer names. */
export function kerasVariables(m: KerasModelJson, weights: Weights): Map<string, SavedVar[]> {
  const out = new Map<string, SavedVar[]>();
  const get = (key: string) => {
    const w = weights.get(key);
    if (!w) throw new Error(`fixture: no weight ${key}`);
    return w;
  };
  for (const l of m.layers) {
    const c = l.config;
    const vars: SavedVar[] = [];
    if (l.class_name === 'Conv2D') {
      const [kh, kw] = c.kernel_size as number[], o = c.filters as number;
      const k = get(`${l.name}/kernel`), i = k.length / (o * kh! * kw!);
      vars.push({ name: 'kernel', data: toHwio(k, o, i, kh!, kw!), shape: [kh!, kw!, i, o] });
      if (c.use_bias) vars.push({ name: 'bias', data: get(`${l.name}/bias`), shape: [o] });
    } else if (l.class_name === 'BatchNormalization') {
      for (const v of ['gamma', 'beta', 'moving_mean', 'moving_variance']) vars.push({ name: v, data: get(`${l.name}/${v}`), shape: [get(`${l.name}/${v}`).length] });
    } else if (l.class_name === 'Dense') {
      const k = get(`${l.name}/kernel`), units = c.units as number;
      vars.push({ name: 'kernel', data: k, shape: [k.length / units, units] });
      if (c.use_bias) vars.push({ name: 'bias', data: get(`${l.name}/bias`), shape: [units] });
    }
    out.set(l.name, vars);
  }
  return out;
}

const fixed = (s: string) => `A${Math.max(1, Buffer.byteLength(s))}`;
const fixedList = (xs: readonly string[]) => `A${Math.max(1, ...xs.map((x) => Buffer.byteLength(x)))}`;

/** tf.keras 2.x `model.save("x.h5", include_optimizer=False)`. */
export async function writeKerasH5(file: string, m: KerasModelJson, weights: Weights, options: { config?: unknown; kerasVersion?: string } = {}): Promise<string> {
  await ready;
  const vars = kerasVariables(m, weights);
  const f = new h5wasm.File(file, 'w');
  try {
    const json = JSON.stringify(options.config ?? tf2Config(m));
    const version = options.kerasVersion ?? '2.7.0';
    f.create_attribute('keras_version', version, null, fixed(version));
    f.create_attribute('backend', 'tensorflow', null, fixed('tensorflow'));
    f.create_attribute('model_config', json, null, fixed(json));
    const root = f.create_group('model_weights');
    const names = m.layers.map((l) => l.name);
    root.create_attribute('layer_names', names, null, fixedList(names));
    root.create_attribute('backend', 'tensorflow', null, fixed('tensorflow'));
    root.create_attribute('keras_version', version, null, fixed(version));
    for (const l of m.layers) {
      const g = root.create_group(l.name);
      const vs = vars.get(l.name)!;
      const weightNames = vs.map((v) => `${l.name}/${v.name}:0`);
      g.create_attribute('weight_names', weightNames, null, fixedList(weightNames));
      if (vs.length === 0) continue;
      const inner = g.create_group(l.name);
      for (const v of vs) inner.create_dataset({ name: `${v.name}:0`, data: v.data, shape: [...v.shape] });
    }
  } finally {
    f.close();
  }
  return file;
}

/** Keras 3's weight-group names per class (saving_lib numbers them by snake_case class name). */
const GROUP: Record<string, string> = {
  InputLayer: 'input_layer', Conv2D: 'conv2d', BatchNormalization: 'batch_normalization', Activation: 'activation', MaxPooling2D: 'max_pooling2d',
  AveragePooling2D: 'average_pooling2d', Add: 'add', Multiply: 'multiply', GlobalAveragePooling2D: 'global_average_pooling2d', Flatten: 'flatten',
  Dense: 'dense', Reshape: 'reshape', ReLU: 're_lu', Dropout: 'dropout',
};

/** Keras 3 `model.save("x.keras")`. */
export async function writeKeras3(file: string, m: KerasModelJson, weights: Weights, options: { config?: unknown } = {}): Promise<string> {
  await ready;
  const vars = kerasVariables(m, weights);
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-keras3-'));
  const h5 = path.join(tmp, 'model.weights.h5');
  const f = new h5wasm.File(h5, 'w');
  try {
    const layers = f.create_group('layers');
    const counts = new Map<string, number>();
    for (const l of m.layers) {
      const base = GROUP[l.class_name]!;
      const n = counts.get(base) ?? 0;
      counts.set(base, n + 1);
      const g = layers.create_group(n === 0 ? base : `${base}_${n}`).create_group('vars');
      vars.get(l.name)!.forEach((v, i) => g.create_dataset({ name: String(i), data: v.data, shape: [...v.shape] }));
    }
    f.create_group('vars');
    f.create_group('optimizer').create_group('vars');
  } finally {
    f.close();
  }
  const bytes = await fs.readFile(h5);
  await fs.rm(tmp, { recursive: true, force: true });
  return writeZip(file, [
    { name: 'metadata.json', data: JSON.stringify({ keras_version: '3.5.0', date_saved: '2024-08-27@12:00:00' }) },
    { name: 'config.json', data: JSON.stringify(options.config ?? keras3Config(m)) },
    { name: 'model.weights.h5', data: bytes },
  ], { deflate: false });
}
