/**
 * The gradient graphs of the localisation methods (step 7): Grad-CAM's feature map and its gradient, and the
 * input gradient (saliency). Inference semantics (BN on its moving statistics), weights baked in as
 * initializers so ORT can fold and prepack them; the backward runs from the logits only down to the layer or
 * image asked for, with no parameter gradients. Inputs: `x` (NHWC, as the inference graph) and `seed`
 * [B,T]; every gradient is that of Σ seed·logits, and `probs` is the sigmoid of the logits.
 */
import { TagbooruError, invalidOption } from '../errors.ts';
import { Graph, sigmoid, type Value } from '../graph/index.ts';
import { inferShapes } from '../models/shapes.ts';
import { layerInputs, type Layer, type ModelSpec, type Weights } from '../models/spec.ts';
import { bakedPass } from './baked-pass.ts';
import { backward, logitsLayerOf, type Pass } from './step-graph.ts';

/** Grad-CAM: `features` [B,C,h,w] (NCHW, the activation of `layer`), `features_grad` (same shape), `probs`. */
export function buildGradCamGraph(spec: ModelSpec, weights: Weights, o: { batch: number | string; layer?: string }): { model: Uint8Array; layer: string } {
  const layer = o.layer ?? headInput(spec);
  checkFeatureLayer(spec, layer);
  const g = new Graph(`${spec.name}_gradcam`);
  const { pass, seed } = explainPass(g, spec, weights, o.batch);
  const { layerGrads } = backward(spec, pass, seed, { layers: [layer] });
  g.output(pass.values.get(layer)!, 'features');
  g.output(layerGrads.get(layer)!, 'features_grad');
  g.output(sigmoid(g, pass.values.get(pass.logitsLayer)!), 'probs');
  return { model: g.toModel(`${spec.name} Grad-CAM at ${layer}`), layer };
}

/** Saliency: `input_grad` [B,H,W,3] (NHWC, as `x`), `probs`. */
export function buildSaliencyGraph(spec: ModelSpec, weights: Weights, o: { batch: number | string }): { model: Uint8Array } {
  const g = new Graph(`${spec.name}_saliency`);
  const { pass, seed } = explainPass(g, spec, weights, o.batch);
  const { inputGrad } = backward(spec, pass, seed, { input: true });
  g.output(inputGrad!, 'input_grad');
  g.output(sigmoid(g, pass.values.get(pass.logitsLayer)!), 'probs');
  return { model: g.toModel(`${spec.name} input gradient`) };
}

/** The eval-mode forward on baked weights, and the `seed` input shaped like the logits (∂/∂logits of Σ seed·logits). */
function explainPass(g: Graph, spec: ModelSpec, weights: Weights, batch: number | string): { pass: Pass; seed: Value } {
  const pass = bakedPass(g, spec, weights, batch);
  return { pass, seed: g.input('seed', 'float32', pass.values.get(pass.logitsLayer)!.shape) };
}

/** The layers a classification head is made of: pooling to a vector, flatten, and linear maps. */
function isHeadLayer(l: Layer): boolean {
  const pointwise = l.kind === 'conv' && l.kernel.every((k) => k === 1) && l.strides.every((s) => s === 1);
  return pointwise || l.kind === 'gap' || l.kind === 'avgpool' || l.kind === 'flatten' || l.kind === 'dense';
}

/**
 * Grad-CAM's default layer: the input of the head, walking back from the logits through it (DeepDanbooru's
 * 1×1 conv → GAP; resnet_152's average pool → flatten → dense), i.e. the last block's feature map.
 */
function headInput(spec: ModelSpec): string {
  const byName = new Map(spec.layers.map((l) => [l.name, l]));
  let l = byName.get(logitsLayerOf(spec))!;
  while (isHeadLayer(l)) {
    const [input] = layerInputs(l);
    l = byName.get(input!)!;
  }
  if (inferShapes(spec).get(l.name)!.length !== 3) throw new TagbooruError('E_MODEL', `model ${spec.name}: the input of its head, ${l.name}, is not a feature map`);
  return l.name;
}

/** A feature map (not a vector) that the logits depend on. */
function checkFeatureLayer(spec: ModelSpec, layer: string): void {
  const byName = new Map(spec.layers.map((l) => [l.name, l]));
  const upstream = new Set<string>(), todo = [logitsLayerOf(spec)];
  for (let name = todo.pop(); name !== undefined; name = todo.pop()) {
    if (upstream.has(name)) continue;
    upstream.add(name);
    todo.push(...layerInputs(byName.get(name)!));
  }
  if (!upstream.has(layer) || inferShapes(spec).get(layer)!.length !== 3) {
    throw invalidOption('layer', `the name of a feature-map layer of ${spec.name} that the logits depend on (default "${headInput(spec)}")`, layer);
  }
}
