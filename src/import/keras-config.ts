/**
 * A Keras model's saved topology, read from its JSON: `model_config` in a legacy .h5 (tf.keras 2.x) or
 * `config.json` in a Keras 3 `.keras` zip. Both shapes of `inbound_nodes` are understood:
 *   tf.keras 2.x  [[["conv2d", 0, 0, {}], …]]                       one node, a list of [layer, node, tensor, kwargs]
 *   Keras 3       [{ args: [{ class_name: "__keras_tensor__", config: { keras_history: ["conv2d", 0, 0] } }], kwargs: {} }]
 * The graph is rebuilt from these links, never from assumed layer names.
 */
import { TagbooruError } from '../errors.ts';

export interface KerasLayer {
  readonly className: string;
  readonly name: string;
  readonly config: Readonly<Record<string, unknown>>;
  /** Names of the layers whose outputs this layer reads, in argument order. */
  readonly inputs: readonly string[];
}

export interface KerasModel {
  readonly name: string;
  /** In `model.layers` order (the order Keras 3 numbers its weight groups by). */
  readonly layers: readonly KerasLayer[];
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(where: string, what: string): never {
  throw new TagbooruError('E_MODEL', `${where}: ${what}`);
}

/** Every `keras_history` reference inside a Keras 3 call's args, depth first. */
function kerasTensorRefs(v: unknown, out: string[], where: string): void {
  if (Array.isArray(v)) {
    for (const x of v) kerasTensorRefs(x, out, where);
  } else if (isObject(v)) {
    if (v.class_name === '__keras_tensor__' && isObject(v.config)) {
      const history = v.config.keras_history;
      if (!Array.isArray(history) || typeof history[0] !== 'string') fail(where, 'a __keras_tensor__ without keras_history');
      if (history[2] !== 0 && history[2] !== undefined) fail(where, `reads output ${String(history[2])} of ${history[0]}; only single-output layers are supported`);
      out.push(history[0]);
    } else for (const x of Object.values(v)) kerasTensorRefs(x, out, where);
  }
}

function inboundLayers(layer: Json, where: string): string[] {
  const nodes = layer.inbound_nodes;
  if (nodes === undefined || (Array.isArray(nodes) && nodes.length === 0)) return [];
  if (!Array.isArray(nodes)) fail(where, 'inbound_nodes is not a list');
  if (nodes.length > 1) fail(where, `is called ${nodes.length} times (a shared layer); only layers used once are supported`);
  const node: unknown = nodes[0];
  const out: string[] = [];
  if (Array.isArray(node)) {
    // tf.keras 2.x: [[name, node_index, tensor_index, kwargs], …]
    for (const ref of node) {
      if (!Array.isArray(ref) || typeof ref[0] !== 'string') fail(where, `cannot read inbound node ${JSON.stringify(ref)}`);
      if (ref[2] !== 0) fail(where, `reads output ${String(ref[2])} of ${ref[0]}; only single-output layers are supported`);
      out.push(ref[0]);
    }
  } else if (isObject(node)) {
    kerasTensorRefs(node.args, out, where);
  } else fail(where, `cannot read inbound node ${JSON.stringify(node)}`);
  return out;
}

/** `[["input_1", 0, 0]]` or, for one tensor, Keras 3's `["input_layer", 0, 0]`. */
function endpointNames(v: unknown, key: string, where: string): string[] {
  if (!Array.isArray(v)) fail(where, `${key} is missing`);
  const list = typeof v[0] === 'string' ? [v] : v;
  return list.map((ref) => {
    if (!Array.isArray(ref) || typeof ref[0] !== 'string') fail(where, `cannot read ${key} entry ${JSON.stringify(ref)}`);
    return ref[0];
  });
}

function readLayer(raw: unknown, where: string): KerasLayer {
  if (!isObject(raw) || typeof raw.class_name !== 'string' || !isObject(raw.config)) fail(where, `a layer entry without class_name/config: ${JSON.stringify(raw).slice(0, 200)}`);
  const name = typeof raw.name === 'string' ? raw.name : raw.config.name;
  if (typeof name !== 'string') fail(where, `a ${raw.class_name} layer has no name`);
  return { className: raw.class_name, name, config: raw.config, inputs: inboundLayers(raw, `${where}: layer ${name} (${raw.class_name})`) };
}

/** Parse a saved model's topology. `where` names the file in errors. */
export function parseKerasModel(json: unknown, where: string): KerasModel {
  if (!isObject(json) || typeof json.class_name !== 'string' || !isObject(json.config)) fail(where, 'the model config is not a Keras model (no class_name/config)');
  const { class_name: cls, config } = json;
  const name = typeof config.name === 'string' ? config.name : 'model';
  if (!Array.isArray(config.layers)) fail(where, `the ${cls} config has no layers`);
  if (cls === 'Sequential') return sequential(name, config.layers, where);
  if (cls !== 'Functional' && cls !== 'Model') fail(where, `model class ${cls} is not supported (expected Functional, Model or Sequential)`);
  const layers = config.layers.map((l) => readLayer(l, where));
  const known = new Set(layers.map((l) => l.name));
  for (const l of layers) for (const i of l.inputs) if (!known.has(i)) fail(where, `layer ${l.name} reads ${i}, which is not a layer of the model`);
  const inputs = endpointNames(config.input_layers, 'input_layers', where);
  const outputs = endpointNames(config.output_layers, 'output_layers', where);
  return { name, layers, inputs, outputs };
}

/** A Sequential model chains its layers; its input is the first layer's batch_input_shape or an InputLayer. */
function sequential(name: string, raw: readonly unknown[], where: string): KerasModel {
  const layers: KerasLayer[] = [];
  for (const entry of raw) {
    const l = readLayer(entry, where);
    const prev = layers.at(-1);
    if (!prev && l.className !== 'InputLayer') {
      const shape = l.config.batch_input_shape ?? l.config.batch_shape;
      if (!Array.isArray(shape)) fail(where, `Sequential model ${name} does not say its input shape`);
      layers.push({ className: 'InputLayer', name: `${name}_input`, config: { batch_input_shape: shape }, inputs: [] });
    }
    const before = layers.at(-1);
    layers.push({ ...l, inputs: before ? [before.name] : [] });
  }
  if (layers.length === 0) fail(where, `Sequential model ${name} has no layers`);
  return { name, layers, inputs: [layers[0]!.name], outputs: [layers.at(-1)!.name] };
}

/** Layers in an order where every input comes first (stable: the saved order wherever it already is). */
export function topologicalOrder(model: KerasModel, where: string): KerasLayer[] {
  const done = new Set<string>();
  const out: KerasLayer[] = [];
  let pending = [...model.layers];
  while (pending.length > 0) {
    const next = pending.filter((l) => {
      if (!l.inputs.every((i) => done.has(i))) return true;
      out.push(l);
      done.add(l.name);
      return false;
    });
    if (next.length === pending.length) fail(where, `the layers ${next.map((l) => l.name).slice(0, 5).join(', ')} form a cycle`);
    pending = next;
  }
  return out;
}

/** Keras' `naming.to_snake_case`: `GlobalAveragePooling2D` → `global_average_pooling2d`. */
export function snakeCase(className: string): string {
  const a = className.replace(/\W+/g, '');
  const b = a.replace(/(.)([A-Z][a-z]+)/g, '$1_$2');
  return b.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}
