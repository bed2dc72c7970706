/**
 * Keras layers → tagbooru's layer IR (src/models/spec.ts), one rule per Keras class in one table, and
 * Keras weights → IR weights (HWIO kernels → OIHW). A class missing from the table is an error that
 * names the layer and its class.
 */
import { TagbooruError } from '../errors.ts';
import { shapeOf } from '../models/shapes.ts';
import { layerInputs, type Layer, type LayerShape, type ModelSpec, type Pair, type Weights } from '../models/spec.ts';
import { topologicalOrder, type KerasLayer, type KerasModel } from './keras-config.ts';

/** One saved variable: its name in the file (for messages) and its data. */
export interface SavedVariable {
  readonly name: string;
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

/** Where a Keras layer's saved variables go: IR weight keys, in Keras' save order. */
interface WeightRule {
  readonly keras: KerasLayer;
  /** Variables in save order; `optional` ones may be absent when the config turns them off. */
  readonly vars: readonly { readonly key: string; readonly shape: readonly number[]; readonly layout?: 'hwio' | 'dense-as-conv' }[];
  /** Keys filled with a constant because the config turned the variable off (BN center/scale). */
  readonly fills: readonly { readonly key: string; readonly length: number; readonly value: number }[];
}

export interface ConvertedModel {
  readonly spec: ModelSpec;
  readonly rules: readonly WeightRule[];
}

/** A Keras model read from a file, as the IR and its weights. */
export interface KerasImport {
  readonly spec: ModelSpec;
  readonly weights: Weights;
  readonly format: 'keras-h5' | 'keras3';
  readonly kerasVersion: string | null;
}

export interface ConvertOptions {
  /** Used when the InputLayer leaves height/width open (`None`). */
  readonly imageSize?: readonly [height: number, width: number];
}

const ACTIVATIONS = ['linear', 'relu', 'sigmoid'] as const;

class Converter {
  readonly layers: Layer[] = [];
  readonly rules: WeightRule[] = [];
  /** Keras layer name → the IR layer holding its output (identity layers and reshapes alias their input). */
  private readonly alias = new Map<string, string>();
  private readonly shapes = new Map<string, LayerShape>();

  constructor(readonly where: string, readonly options: ConvertOptions) {}

  fail(l: KerasLayer, what: string): never {
    throw new TagbooruError('E_MODEL', `${this.where}: layer ${l.name} (${l.className}): ${what}`);
  }

  input(l: KerasLayer, i = 0): string {
    const name = l.inputs[i];
    if (name === undefined) this.fail(l, `expects at least ${i + 1} input(s)`);
    return this.alias.get(name) ?? name;
  }

  shape(ir: string): LayerShape {
    return this.shapes.get(ir)!;
  }

  push(layer: Layer): string {
    if (this.shapes.has(layer.name)) throw new TagbooruError('E_MODEL', `${this.where}: the name ${layer.name} is used twice`);
    this.shapes.set(layer.name, shapeOf(layer, layerInputs(layer).map((i) => this.shape(i))));
    this.layers.push(layer);
    return layer.name;
  }

  /** The Keras layer `l` outputs what IR layer `ir` outputs. */
  bind(l: KerasLayer, ir: string): void {
    if (ir !== l.name) this.alias.set(l.name, ir);
  }

  resolve(name: string): string {
    return this.alias.get(name) ?? name;
  }

  /** Conv2D/Dense `activation=`: a separate IR layer after the op. */
  activation(l: KerasLayer, x: string): string {
    const act = activationName(l.config.activation);
    if (!(ACTIVATIONS as readonly string[]).includes(act)) this.fail(l, `activation "${act}" is not supported (${ACTIVATIONS.join(', ')})`);
    if (act === 'linear') return x;
    return this.push({ kind: act as 'relu' | 'sigmoid', name: `${l.name}:${act}`, input: x });
  }
}

function activationName(v: unknown): string {
  if (v === undefined || v === null) return 'linear';
  if (typeof v === 'string') return v;
  // Keras 3 may serialise a function as { module, class_name: "function", config: "relu" }
  if (typeof v === 'object' && typeof (v as { config?: unknown }).config === 'string') return (v as { config: string }).config;
  return JSON.stringify(v);
}

function pair(c: KerasLayer['config'], key: string, l: KerasLayer, conv: Converter, fallback?: Pair): Pair {
  const v = c[key] ?? fallback;
  if (typeof v === 'number' && Number.isInteger(v)) return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x))) return [v[0] as number, v[1] as number];
  return conv.fail(l, `${key} must be two integers, got ${JSON.stringify(v)}`);
}

function padding(l: KerasLayer, conv: Converter): 'same' | 'valid' {
  const p = l.config.padding ?? 'valid';
  if (p !== 'same' && p !== 'valid') conv.fail(l, `padding ${JSON.stringify(p)} is not supported (same, valid)`);
  return p;
}

function channelsLast(l: KerasLayer, conv: Converter): void {
  const f = l.config.data_format;
  if (f !== undefined && f !== null && f !== 'channels_last') conv.fail(l, `data_format ${JSON.stringify(f)} is not supported (channels_last)`);
}

function bool(c: KerasLayer['config'], key: string, fallback: boolean): boolean {
  const v = c[key];
  return typeof v === 'boolean' ? v : fallback;
}

type Rule = (l: KerasLayer, c: Converter) => void;

/** One rule per supported Keras class. */
const RULES: Readonly<Record<string, Rule>> = {
  InputLayer(l: KerasLayer, c: Converter) {
    const shape = l.config.batch_input_shape ?? l.config.batch_shape;
    if (!Array.isArray(shape) || shape.length !== 4) c.fail(l, `expected an image input [batch, height, width, channels], got ${JSON.stringify(shape)}`);
    const [, h0, w0, ch] = shape as (number | null)[];
    const h = h0 ?? c.options.imageSize?.[0], w = w0 ?? c.options.imageSize?.[1];
    if (!h || !w) c.fail(l, 'the input size is open (None); give the image size (project.json or --image-size)');
    if (ch !== 3) c.fail(l, `expected 3 input channels (RGB), got ${String(ch)}`);
    c.push({ kind: 'input', name: l.name, shape: [h, w, 3] });
  },

  Conv2D(l: KerasLayer, c: Converter) {
    channelsLast(l, c);
    const cfg = l.config;
    if (pair(cfg, 'dilation_rate', l, c, [1, 1]).join() !== '1,1') c.fail(l, 'dilated convolutions are not supported');
    if ((cfg.groups ?? 1) !== 1) c.fail(l, 'grouped convolutions are not supported');
    const x = c.input(l);
    const cin = c.shape(x).at(-1)!;
    const filters = cfg.filters;
    if (typeof filters !== 'number') c.fail(l, 'filters is missing');
    const kernel = pair(cfg, 'kernel_size', l, c);
    const useBias = bool(cfg, 'use_bias', true);
    const name = c.push({ kind: 'conv', name: l.name, input: x, filters, kernel, strides: pair(cfg, 'strides', l, c, [1, 1]), padding: padding(l, c), useBias });
    c.rules.push({
      keras: l,
      vars: [{ key: `${name}/kernel`, shape: [kernel[0], kernel[1], cin, filters], layout: 'hwio' }, ...(useBias ? [{ key: `${name}/bias`, shape: [filters] }] : [])],
      fills: [],
    });
    c.bind(l, c.activation(l, name));
  },

  BatchNormalization(l: KerasLayer, c: Converter) {
    const x = c.input(l);
    const rank = c.shape(x).length + 1;
    const axis = Array.isArray(l.config.axis) ? l.config.axis : [l.config.axis ?? -1];
    if (axis.length !== 1 || (axis[0] !== -1 && axis[0] !== rank - 1)) c.fail(l, `normalises axis ${JSON.stringify(l.config.axis)}; only the channel axis (-1) is supported`);
    const epsilon = typeof l.config.epsilon === 'number' ? l.config.epsilon : 1e-3;
    const momentum = typeof l.config.momentum === 'number' ? l.config.momentum : 0.99;
    const name = c.push({ kind: 'bn', name: l.name, input: x, epsilon, momentum });
    const ch = c.shape(x).at(-1)!;
    const scale = bool(l.config, 'scale', true), center = bool(l.config, 'center', true);
    const v = (n: string) => ({ key: `${name}/${n}`, shape: [ch] });
    c.rules.push({
      keras: l,
      vars: [...(scale ? [v('gamma')] : []), ...(center ? [v('beta')] : []), v('moving_mean'), v('moving_variance')],
      fills: [...(scale ? [] : [{ key: `${name}/gamma`, length: ch, value: 1 }]), ...(center ? [] : [{ key: `${name}/beta`, length: ch, value: 0 }])],
    });
  },

  Activation(l: KerasLayer, c: Converter) {
    const act = activationName(l.config.activation);
    const x = c.input(l);
    if (act === 'linear') return c.bind(l, x);
    if (act !== 'relu' && act !== 'sigmoid') c.fail(l, `activation "${act}" is not supported (${ACTIVATIONS.join(', ')})`);
    c.bind(l, c.push({ kind: act, name: l.name, input: x }));
  },

  ReLU(l: KerasLayer, c: Converter) {
    const { max_value: max, negative_slope: slope, threshold } = l.config;
    if ((max !== undefined && max !== null) || (slope ?? 0) !== 0 || (threshold ?? 0) !== 0) c.fail(l, 'only a plain ReLU (no max_value, negative_slope or threshold) is supported');
    c.bind(l, c.push({ kind: 'relu', name: l.name, input: c.input(l) }));
  },

  MaxPooling2D: (l: KerasLayer, c: Converter) => pool('maxpool', l, c),
  AveragePooling2D: (l: KerasLayer, c: Converter) => pool('avgpool', l, c),

  Add: (l: KerasLayer, c: Converter) => c.bind(l, c.push({ kind: 'add', name: l.name, inputs: l.inputs.map((i) => c.resolve(i)) })),
  Multiply: (l: KerasLayer, c: Converter) => c.bind(l, c.push({ kind: 'multiply', name: l.name, inputs: l.inputs.map((i) => c.resolve(i)) })),

  GlobalAveragePooling2D(l: KerasLayer, c: Converter) {
    channelsLast(l, c);
    // keepdims=True gives [1,1,C], which the IR holds as [C]: every supported consumer treats them alike
    c.bind(l, c.push({ kind: 'gap', name: l.name, input: c.input(l) }));
  },

  Flatten(l: KerasLayer, c: Converter) {
    const x = c.input(l);
    c.bind(l, c.shape(x).length === 1 ? x : c.push({ kind: 'flatten', name: l.name, input: x }));
  },

  Dense(l: KerasLayer, c: Converter) {
    const x = c.input(l);
    const inShape = c.shape(x);
    const cin = inShape.at(-1)!;
    const units = l.config.units;
    if (typeof units !== 'number') c.fail(l, 'units is missing');
    const useBias = bool(l.config, 'use_bias', true);
    const bias = useBias ? [{ key: `${l.name}/bias`, shape: [units] }] : [];
    let name: string;
    if (inShape.length === 1) {
      name = c.push({ kind: 'dense', name: l.name, input: x, units, useBias });
      c.rules.push({ keras: l, vars: [{ key: `${name}/kernel`, shape: [cin, units] }, ...bias], fills: [] });
    } else {
      // Dense on a feature map acts per pixel: a 1×1 convolution
      name = c.push({ kind: 'conv', name: l.name, input: x, filters: units, kernel: [1, 1], strides: [1, 1], padding: 'valid', useBias });
      c.rules.push({ keras: l, vars: [{ key: `${name}/kernel`, shape: [cin, units], layout: 'dense-as-conv' }, ...bias], fills: [] });
    }
    c.bind(l, c.activation(l, name));
  },

  Reshape(l: KerasLayer, c: Converter) {
    const x = c.input(l);
    const from = c.shape(x);
    const n = from.reduce((p, d) => p * d, 1);
    const raw = l.config.target_shape;
    if (!Array.isArray(raw) || !raw.every((d) => Number.isInteger(d))) c.fail(l, `target_shape ${JSON.stringify(raw)} is not a list of integers`);
    const known = (raw as number[]).reduce((p, d) => (d === -1 ? p : p * d), 1);
    const to = (raw as number[]).map((d) => (d === -1 ? n / known : d));
    if (to.reduce((p, d) => p * d, 1) !== n) c.fail(l, `cannot reshape [${from.join(',')}] to [${to.join(',')}]`);
    const squeeze = (s: readonly number[]) => s.filter((d) => d !== 1).join();
    // A vector seen as a 1×1 map (squeeze-excitation) or the same shape: nothing moves in memory.
    if (to.join() === from.join() || (from.length === 1 && to.length === 3 && squeeze(to) === squeeze(from))) return c.bind(l, x);
    if (to.length === 1) return c.bind(l, c.push({ kind: 'flatten', name: l.name, input: x }));
    c.fail(l, `reshaping [${from.join(',')}] to [${to.join(',')}] is not supported (only flattening, or a vector to [1,1,C])`);
  },

  /** Identity at inference. */
  Dropout: (l: KerasLayer, c: Converter) => c.bind(l, c.input(l)),
};

export const SUPPORTED_LAYERS: readonly string[] = Object.keys(RULES);

function pool(kind: 'maxpool' | 'avgpool', l: KerasLayer, c: Converter): void {
  channelsLast(l, c);
  const size = pair(l.config, 'pool_size', l, c, [2, 2]);
  const strides = l.config.strides === null || l.config.strides === undefined ? size : pair(l.config, 'strides', l, c);
  c.bind(l, c.push({ kind, name: l.name, input: c.input(l), pool: size, strides, padding: padding(l, c) }));
}

/** Rebuild a Keras model as a ModelSpec, with the plan for its weights. */
export function convertKerasModel(model: KerasModel, where: string, options: ConvertOptions = {}): ConvertedModel {
  if (model.inputs.length !== 1) throw new TagbooruError('E_MODEL', `${where}: the model has ${model.inputs.length} inputs; an image tagger has one`);
  if (model.outputs.length !== 1) throw new TagbooruError('E_MODEL', `${where}: the model has ${model.outputs.length} outputs; an image tagger has one`);
  const c: Converter = new Converter(where, options);
  for (const l of topologicalOrder(model, where)) {
    const rule = RULES[l.className];
    if (!rule) c.fail(l, `layer class ${l.className} is not supported. Supported: ${SUPPORTED_LAYERS.join(', ')}`);
    try {
      rule(l, c);
    } catch (e) {
      if (e instanceof TagbooruError) throw e;
      c.fail(l, (e as Error).message);
    }
  }
  return { spec: { name: model.name, layers: c.layers, output: c.resolve(model.outputs[0]!) }, rules: c.rules };
}

/** HWIO [kh,kw,cin,cout] → OIHW [cout,cin,kh,kw]. */
function hwioToOihw(src: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < cin; i++) {
    const base = ((y * kw + x) * cin + i) * cout;
    for (let o = 0; o < cout; o++) out[((o * cin + i) * kh + y) * kw + x] = src[base + o]!;
  }
  return out;
}

/**
 * Map each layer's saved variables (in save order) onto IR weights, checking count and shapes.
 * `load(layer)` returns the variables a file holds for a Keras layer ([] when it holds none).
 */
export function mapWeights(converted: ConvertedModel, load: (layer: KerasLayer) => readonly SavedVariable[], where: string): Weights {
  const weights: Weights = new Map();
  for (const rule of converted.rules) {
    const l = rule.keras;
    const saved = load(l);
    if (saved.length !== rule.vars.length) {
      throw new TagbooruError('E_MODEL', `${where}: layer ${l.name} (${l.className}) should have ${rule.vars.length} saved variables, the file has ${saved.length}${saved.length ? ` (${saved.map((s) => s.name).join(', ')})` : ''}`);
    }
    rule.vars.forEach((v, i) => {
      const s = saved[i]!;
      if (s.shape.join() !== v.shape.join()) {
        throw new TagbooruError('E_MODEL', `${where}: ${s.name} of layer ${l.name} has shape [${s.shape.join(',')}], the model config implies [${v.shape.join(',')}]`);
      }
      let data = s.data;
      if (v.layout === 'hwio') data = hwioToOihw(data, v.shape[0]!, v.shape[1]!, v.shape[2]!, v.shape[3]!);
      else if (v.layout === 'dense-as-conv') data = hwioToOihw(data, 1, 1, v.shape[0]!, v.shape[1]!);
      weights.set(v.key, data);
    });
    for (const f of rule.fills) weights.set(f.key, new Float32Array(f.length).fill(f.value));
  }
  return weights;
}
