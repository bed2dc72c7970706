/**
 * Graph surgery on a tagger's model.onnx: the same model with two more outputs, `cam` (the head applied at
 * every position of the last feature map: one logit map per tag, bias included) and the feature map itself.
 * The original output is untouched, so the variant tags exactly as the bundle does.
 */
import { TagbooruError } from '../errors.ts';
import { decodeModel, type ModelProto } from '../graph/index.ts';
import type { NodeProto } from '../graph/proto.ts';
import { addOutputs, encodeModel, namer } from '../graph/surgery.ts';
import { denseStrides, densify } from './dense.ts';
import { findPoolHead, type FeatureLayout, type PoolHead } from '../graph/pool-head.ts';

export interface ProbeVariant {
  readonly model: Uint8Array;
  /** Output names in the variant: `cam` is [N, T, h, w] for maps, [N, T, L] for tokens; null without a CAM head. */
  readonly cam: string | null;
  /** Why `cam` is null. */
  readonly camError: string | null;
  readonly features: string;
  readonly layout: FeatureLayout;
  /** AveragePool's window, which must cover the feature map for the pooling to be global. */
  readonly window: readonly [number, number] | null;
  /** `cam` cells per cell of the model's own last feature map (dense.ts): 1 unless a finer map was asked for. */
  readonly lattice: number;
  /** The map strides (input pixels) `cam` can have, the model's own first; empty for token models. */
  readonly mapStrides: readonly number[];
}

const FLOAT = 1;

/** Append nodes computing the CAM from `features`; returns the CAM's value name. */
function camNodes(model: ModelProto, head: PoolHead, fresh: (hint: string) => string): string | null {
  const h = head.head;
  if (h.kind === 'unsupported') return null;
  const g = model.graph!;
  const node = (opType: string, input: string[], attribute: NodeProto['attribute'] = []) => {
    const out = fresh(`cam_${opType.toLowerCase()}`);
    g.node!.push({ opType, name: fresh(`node_${out}`), input, output: [out], attribute });
    return out;
  };
  const perm = (ints: number[]) => [{ name: 'perm', type: 7, ints }];
  const scalar = (value: number) => {
    const name = fresh('cam_scale');
    g.initializer!.push({ name, dims: [], dataType: FLOAT, floatData: [value] });
    return name;
  };
  // one channel per tag, last: [N, h, w, T] or [N, L, T]; NCHW maps are made channels-last first
  const toTagsFirst = (v: string) => (head.layout === 'tokens' ? node('Transpose', [v], perm([0, 2, 1])) : node('Transpose', [v], perm([0, 3, 1, 2])));
  switch (h.kind) {
    case 'none':
      return head.layout === 'NCHW' ? node('Identity', [head.features]) : toTagsFirst(head.features);
    case 'conv':
      return node('Conv', [head.features, ...h.node.input!.slice(1)], h.node.attribute ?? []);
    case 'matmul': {
      const last = head.layout === 'NCHW' ? node('Transpose', [head.features], perm([0, 2, 3, 1])) : head.features;
      const w = h.transposed ? node('Transpose', [h.weight], perm([1, 0])) : h.weight;
      let y = node('MatMul', [last, w]);
      if (h.alpha !== 1) y = node('Mul', [y, scalar(h.alpha)]);
      if (h.bias) y = node('Add', [y, h.beta === 1 ? h.bias : node('Mul', [h.bias, scalar(h.beta)])]);
      return toTagsFirst(y);
    }
  }
}

/**
 * The explain variant of a tagger. Fails (E_MODEL) only when the model has no global average pooling at all;
 * a pooled model whose head is not linear still gets its features (Score-CAM), with `camError` saying why.
 */
export function probeVariant(bytes: Uint8Array, output: string, mapStride?: number): ProbeVariant {
  const model = decodeModel(bytes);
  if (!model.graph?.output?.some((o) => o.name === output)) throw new TagbooruError('E_MODEL', `the model has no output ${output}`);
  const head = findPoolHead(model, output);
  if (!head) {
    throw new TagbooruError('E_MODEL', 'the model has no global average pooling (GlobalAveragePool, ReduceMean over H and W or over tokens) before its output, so neither cam nor scorecam can find its last feature map; use gradcam or saliency on a tagbooru-trained bundle');
  }
  const mapStrides = denseStrides(model, head);
  const lattice = mapStride === undefined ? 1 : densify(model, head, mapStride).lattice;
  const fresh = namer(model);
  const cam = camNodes(model, head, fresh);
  // Score-CAM weighs the backbone's channels: with a conv 1×1 → GAP head, the conv's input (NCHW, as Conv takes it)
  const features = head.backbone ?? head.features;
  const layout = head.backbone ? 'NCHW' : head.layout;
  let camName: string | null = null;
  if (cam) {
    camName = fresh('cam');
    model.graph.node!.push({ opType: 'Identity', name: fresh('node_cam'), input: [cam], output: [camName] });
  }
  addOutputs(model, [...(camName ? [camName] : []), features]);
  return {
    model: encodeModel(model),
    cam: camName,
    camError: head.head.kind === 'unsupported' ? head.head.reason : null,
    features,
    layout,
    window: head.window,
    lattice,
    mapStrides,
  };
}
