/**
 * A model as data: a DAG of Keras-like layers in NHWC terms, named as tf.keras names them. The same spec
 * drives the inference export, the float64 reference forward in the tests, the parameter count, the
 * training graph, and the Keras importer, so none of them can drift from the others.
 */
import { TagbooruError } from '../errors.ts';

export type Pair = readonly [number, number];

type Unary<K extends string> = { kind: K; name: string; input: string };
type Pool<K extends string> = Unary<K> & { pool: Pair; strides: Pair; padding: 'same' | 'valid' };
type Merge<K extends string> = { kind: K; name: string; inputs: readonly string[] };

export type Layer =
  | { kind: 'input'; name: string; shape: readonly [h: number, w: number, c: number] }
  | (Unary<'conv'> & { filters: number; kernel: Pair; strides: Pair; padding: 'same' | 'valid'; useBias: boolean })
  | (Unary<'bn'> & { epsilon: number; momentum: number; zeroGamma?: boolean })
  | Unary<'relu'>
  // exclusive: groups of mutually exclusive tags, read as one softmax each (exclusive.ts)
  | (Unary<'sigmoid'> & { exclusive?: readonly (readonly number[])[] })
  | Pool<'maxpool'>
  | Pool<'avgpool'>
  | Merge<'add'>
  | Merge<'multiply'>
  | Unary<'gap'>
  | Unary<'flatten'>
  | (Unary<'dense'> & { units: number; useBias: boolean });

export type LayerKind = Layer['kind'];

export interface ModelSpec {
  /** Architecture name, e.g. `resnet_custom_v3`. */
  readonly name: string;
  readonly layers: readonly Layer[];
  /** The layer whose output is the model output (tag probabilities). */
  readonly output: string;
}

/** Weights keyed `<layer>/<variable>`, Keras variable names. Conv kernels are OIHW (ONNX order). */
export type Weights = Map<string, Float32Array>;

/** Activation shape per layer, NHWC without the batch: [h, w, c] for maps, [c] for vectors. */
export type LayerShape = readonly number[];

export function layerInputs(layer: Layer): readonly string[] {
  switch (layer.kind) {
    case 'input': return [];
    case 'add': case 'multiply': return layer.inputs;
    default: return [layer.input];
  }
}

export function inputLayer(spec: ModelSpec): Extract<Layer, { kind: 'input' }> {
  const input = spec.layers.find((l) => l.kind === 'input');
  if (input?.kind !== 'input') throw new TagbooruError('E_MODEL', `model ${spec.name} has no input layer`);
  return input;
}

/** For each layer, which layers read its output. */
export function consumers(spec: ModelSpec): Map<string, string[]> {
  const out = new Map<string, string[]>(spec.layers.map((l) => [l.name, []]));
  for (const l of spec.layers) for (const i of layerInputs(l)) out.get(i)?.push(l.name);
  return out;
}
