/**
 * A model as data: a DAG of Keras-like layers in NHWC terms, named as tf.keras names them. The same spec
 * drives the inference export, the float64 reference forward in the tests, the parameter count, the
 * training graph, and the Keras importer, so none of them can drift from the others.
 */
export type Pair = readonly [number, number];

export type Layer =
  | { kind: 'input'; name: string; shape: readonly [h: number, w: number, c: number] }
  | { kind: 'conv'; name: string; input: string; filters: number; kernel: Pair; strides: Pair; padding: 'same' | 'valid'; useBias: boolean; zeroInit?: boolean }
  | { kind: 'bn'; name: string; input: string; epsilon: number; momentum: number; zeroGamma?: boolean }
  | { kind: 'relu' | 'sigmoid'; name: string; input: string }
  | { kind: 'maxpool' | 'avgpool'; name: string; input: string; pool: Pair; strides: Pair; padding: 'same' | 'valid' }
  | { kind: 'add' | 'multiply'; name: string; inputs: readonly string[] }
  | { kind: 'gap' | 'flatten'; name: string; input: string }
  | { kind: 'dense'; name: string; input: string; units: number; useBias: boolean };

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
  if (input?.kind !== 'input') throw new Error(`model ${spec.name} has no input layer`);
  return input;
}

/** For each layer, which layers read its output. */
export function consumers(spec: ModelSpec): Map<string, string[]> {
  const out = new Map<string, string[]>(spec.layers.map((l) => [l.name, []]));
  for (const l of spec.layers) for (const i of layerInputs(l)) out.get(i)?.push(l.name);
  return out;
}
