/**
 * Finding the head of an ONNX tagger: the global pooling whose input is the last feature map, and what lies
 * between it and the output. Works on any graph (tagbooru's exports, tf2onnx, timm), so the CAM and Score-CAM
 * variants need nothing but model.onnx.
 */
import type { AttributeProto, ModelProto, NodeProto, TensorProto } from './proto.ts';

/** How the pooled tensor is laid out: NCHW and NHWC maps pool over H, W; tokens [N, L, C] over L. */
export type FeatureLayout = 'NCHW' | 'NHWC' | 'tokens';

/** What turns a pooled [N, C] vector into logits, applied at every position it is a CAM. */
export type DenseHead =
  | { readonly kind: 'none' } // the pooled map already has one channel per tag (conv 1×1 → GAP)
  | { readonly kind: 'matmul'; readonly weight: string; readonly transposed: boolean; readonly alpha: number; readonly bias: string | null; readonly beta: number }
  | { readonly kind: 'conv'; readonly node: NodeProto }; // GAP keeping dims → conv 1×1

export interface PoolHead {
  readonly pool: NodeProto;
  /** The pooled value: the last feature map. */
  readonly features: string;
  readonly layout: FeatureLayout;
  /** AveragePool is global only when its window covers the map; checked against the features' size. */
  readonly window: readonly [number, number] | null;
  /** The CAM head, or why there is none (the text of the error naming the methods that work). */
  readonly head: DenseHead | { readonly kind: 'unsupported'; readonly reason: string };
  /** The value whose spatial mean the CAM is (the logits), when there is a head. */
  readonly logits: string | null;
  /**
   * For `head.kind === 'none'`: the input of the conv 1×1 that makes the tag channels, when there is one, so
   * Score-CAM weighs the backbone's channels rather than the tags'.
   */
  readonly backbone: string | null;
}

const RESHAPES = new Set(['Flatten', 'Reshape', 'Squeeze', 'Unsqueeze', 'Identity', 'Transpose']);
const ACTIVATIONS = new Set(['Sigmoid', 'Identity']);

interface GraphIndex {
  readonly producer: Map<string, NodeProto>;
  readonly initializers: Map<string, TensorProto>;
}

function index(model: ModelProto): GraphIndex {
  const g = model.graph!;
  const producer = new Map<string, NodeProto>();
  for (const n of g.node ?? []) for (const o of n.output ?? []) producer.set(o, n);
  return { producer, initializers: new Map((g.initializer ?? []).map((t) => [t.name!, t])) };
}

function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name) ?? undefined;
}
const intAttr = (node: NodeProto, name: string, fallback: number) => {
  const a = attr(node, name);
  return a?.i !== undefined && a.i !== null ? Number(a.i) : fallback;
};
const intsAttr = (node: NodeProto, name: string) => attr(node, name)?.ints?.map(Number);
const floatAttr = (node: NodeProto, name: string, fallback: number) => {
  const a = attr(node, name);
  return a?.f !== undefined && a.f !== null ? a.f : fallback;
};

/** int64 values of a constant: an initializer or a Constant node's tensor. */
function constantInts(name: string, ix: GraphIndex): number[] | null {
  const t = ix.initializers.get(name) ?? ix.producer.get(name)?.attribute?.find((a) => a.name === 'value')?.t ?? null;
  if (!t) return null;
  if (t.int64Data?.length) return t.int64Data.map(Number);
  if (t.rawData?.length) {
    const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
    return Array.from({ length: t.rawData.byteLength / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
  }
  return [];
}

const isConstant = (name: string, ix: GraphIndex) => ix.initializers.has(name) || ix.producer.get(name)?.opType === 'Constant';

/**
 * A pooling node and its layout, or null. ReduceMean's axes say which: {2,3} NCHW, {1,2} NHWC, {1} without
 * keepdims tokens. NOTE: a mean over axis 1 that keeps its dims feeds a broadcast (a decomposed LayerNorm over
 * channels), not a head, so it is not taken for a token pool.
 */
function poolLayout(node: NodeProto, ix: GraphIndex): FeatureLayout | null {
  if (node.opType === 'GlobalAveragePool' || node.opType === 'AveragePool') return 'NCHW';
  if (node.opType !== 'ReduceMean') return null;
  const axes = intsAttr(node, 'axes') ?? (node.input?.[1] ? constantInts(node.input[1], ix) : null);
  if (!axes?.length) return null;
  const key = [...axes].sort((a, b) => a - b).join();
  const keep = intAttr(node, 'keepdims', 1) === 1;
  if (key === '2,3' || key === '-2,-1') return 'NCHW';
  if (key === '1,2' || key === '-3,-2') return 'NHWC';
  if ((key === '1' || key === '-2') && !keep) return 'tokens';
  return null;
}

/** Walk from `value` towards the inputs while the producer is one of `ops`; returns the value reached. */
function skipBack(value: string, ops: ReadonlySet<string>, ix: GraphIndex): string {
  let v = value;
  for (let p = ix.producer.get(v); p && ops.has(p.opType!); p = ix.producer.get(v)) v = p.input![0]!;
  return v;
}

/** The conv 1×1 (stride 1, no groups) producing `value`, through transposes. */
function conv1x1(value: string, ix: GraphIndex): NodeProto | null {
  const p = ix.producer.get(skipBack(value, new Set(['Transpose', 'Identity']), ix));
  if (p?.opType !== 'Conv') return null;
  const kernel = intsAttr(p, 'kernel_shape') ?? ix.initializers.get(p.input![1]!)?.dims?.slice(2).map(Number);
  const ones = (xs: number[] | undefined) => !xs || xs.every((x) => x === 1);
  const zeros = (xs: number[] | undefined) => !xs || xs.every((x) => x === 0);
  return kernel?.join() === '1,1' && ones(intsAttr(p, 'strides')) && intAttr(p, 'group', 1) === 1 && zeros(intsAttr(p, 'pads')) ? p : null;
}

/** The dense layer computing `value` from the pooled vector, if it is one. */
function denseAt(value: string, ix: GraphIndex): { head: DenseHead; input: string } | null {
  let v = value, bias: string | null = null;
  let p = ix.producer.get(v);
  if (p?.opType === 'Add') {
    const [a, b] = p.input!;
    const constant = isConstant(b!, ix) ? b! : isConstant(a!, ix) ? a! : null;
    if (!constant) return null;
    bias = constant;
    v = constant === b ? a! : b!;
    p = ix.producer.get(v);
  }
  if (p?.opType === 'MatMul' && isConstant(p.input![1]!, ix)) {
    return { head: { kind: 'matmul', weight: p.input![1]!, transposed: false, alpha: 1, bias, beta: 1 }, input: p.input![0]! };
  }
  if (p?.opType === 'Gemm' && bias === null && isConstant(p.input![1]!, ix) && intAttr(p, 'transA', 0) === 0) {
    const c = p.input![2] || null;
    return { head: { kind: 'matmul', weight: p.input![1]!, transposed: intAttr(p, 'transB', 0) === 1, alpha: floatAttr(p, 'alpha', 1), bias: c, beta: floatAttr(p, 'beta', 1) }, input: p.input![0]! };
  }
  if (p?.opType === 'Conv' && bias === null && conv1x1(v, ix) === p) return { head: { kind: 'conv', node: p }, input: p.input![0]! };
  return null;
}

/**
 * `value` before any exclusive-group shift (src/models/exclusive.ts): z' = z − S·W, W a constant matrix putting
 * each group's shift at its tags, once per group. The head's own logits z are what a CAM maps and what the
 * pooled features predict linearly; the shift only re-reads a group's logits as one softmax.
 */
function beforeExclusiveShift(value: string, ix: GraphIndex): string {
  let v = value;
  for (let p = ix.producer.get(v); p?.opType === 'Sub'; p = ix.producer.get(v)) {
    const scatter = ix.producer.get(p.input![1]!);
    if (scatter?.opType !== 'MatMul' || !isConstant(scatter.input![1]!, ix)) break;
    v = p.input![0]!;
  }
  return v;
}

/** The nearest global pooling node upstream of `from`, breadth first. */
function nearestPool(from: string, ix: GraphIndex): { node: NodeProto; layout: FeatureLayout } | null {
  const seen = new Set<string>();
  let frontier = [from];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const v of frontier) {
      const p = ix.producer.get(v);
      if (!p || seen.has(p.name ?? v)) continue;
      seen.add(p.name ?? v);
      const layout = poolLayout(p, ix);
      if (layout) return { node: p, layout };
      next.push(...(p.input ?? []).filter((i) => i && !ix.initializers.has(i)));
    }
    frontier = next;
  }
  return null;
}

/** The head of the model whose output is `output`, or null when it has no global average pooling. */
export function findPoolHead(model: ModelProto, output: string): PoolHead | null {
  const ix = index(model);
  const found = nearestPool(output, ix);
  if (!found) return null;
  const { node: pool, layout } = found;
  const features = pool.input![0]!;
  const pooled = pool.output![0]!;
  const kernel = pool.opType === 'AveragePool' ? intsAttr(pool, 'kernel_shape') : undefined;
  const window = kernel?.length === 2 ? ([kernel[0]!, kernel[1]!] as const) : null;
  const base = { pool, features, layout, window };

  // the logits: the output without its sigmoid (and without an exclusive group's shift)
  const end = skipBack(output, new Set(['Identity']), ix);
  const last = ix.producer.get(end);
  const logits = beforeExclusiveShift(last && ACTIVATIONS.has(last.opType!) ? last.input![0]! : end, ix);
  const unsupported = (reason: string): PoolHead => ({ ...base, head: { kind: 'unsupported', reason }, logits: null, backbone: null });

  // pool → reshapes → logits: the pooled map is one channel per tag
  if (skipBack(logits, RESHAPES, ix) === pooled) {
    const conv = conv1x1(features, ix);
    return { ...base, head: { kind: 'none' }, logits, backbone: conv ? conv.input![0]! : null };
  }
  const dense = denseAt(logits, ix);
  if (dense && skipBack(dense.input, RESHAPES, ix) === pooled) {
    if (dense.head.kind === 'conv' && layout !== 'NCHW') return unsupported(`a conv head after a ${layout} pool`);
    return { ...base, head: dense.head, logits, backbone: null };
  }
  const between = ix.producer.get(logits)?.opType ?? 'an input';
  return unsupported(`between the global pooling (${pool.opType} ${pool.name ?? ''}) and the output there is more than a linear layer (the logits come from ${between})`);
}
