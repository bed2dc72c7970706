/**
 * DeepDanbooru's head is a 1×1 conv to one map per tag, then a global average pool. Both are linear, so
 * pooling first gives the same logits: GAP(W·x + b) = W·GAP(x) + b. A training or validation step only needs
 * the logits, and the rewritten head is a [N,C]·[C,T] product instead of a conv over every cell, a GEMM of
 * the same size for its weight gradient and a [N,T,H,W] gradient map (2–5 % of a step of the bench cases).
 * Explanation graphs keep the original order: class activation maps are the per-cell output of that conv.
 */
import { dim, reshape, type Value } from '../graph/index.ts';
import { reduceSum } from '../graph/math.ts';
import { consumers, type Layer, type ModelSpec } from '../models/spec.ts';
import type { BackwardResult, RuleContext } from './types.ts';

type ConvLayer = Extract<Layer, { kind: 'conv' }>;

const pointwise = (l: Layer): l is ConvLayer => l.kind === 'conv' && l.kernel.every((k) => k === 1) && l.strides.every((s) => s === 1);

/** The spec with every 1×1 stride-1 conv read only by a global average pool moved behind that pool. */
export function poolBeforePointwiseHead(spec: ModelSpec): ModelSpec {
  const readers = consumers(spec);
  const byName = new Map(spec.layers.map((l) => [l.name, l]));
  const moved = new Map<string, string>(); // gap name → conv name that now produces its value
  const layers: Layer[] = [];
  for (const l of spec.layers) {
    const conv = l.kind === 'gap' ? byName.get(l.input) : undefined;
    if (l.kind === 'gap' && conv && pointwise(conv) && readers.get(conv.name)!.length === 1) {
      const pooled = `${l.name}/pooled`;
      layers.splice(layers.indexOf(conv), 1, { kind: 'gap', name: pooled, input: conv.input });
      layers.push({ ...conv, input: pooled });
      moved.set(l.name, conv.name);
      continue;
    }
    layers.push(l);
  }
  if (!moved.size) return spec;
  const rename = (n: string) => moved.get(n) ?? n;
  const rewired = layers.map((l) => ('inputs' in l ? { ...l, inputs: l.inputs.map(rename) } : 'input' in l ? { ...l, input: rename(l.input) } : l) as Layer);
  return { ...spec, layers: rewired, output: rename(spec.output) };
}

/** A 1×1 conv applied to pooled [N,C] vectors: one GEMM with the OIHW kernel read as [Co,Ci]. */
export function vectorConvForward(ctx: RuleContext, l: ConvLayer, x: Value): Value {
  const g = ctx.g, w = flatKernel(ctx, l);
  const bias = l.useBias ? ctx.param(`${l.name}/bias`) : null;
  return g.op('Gemm', bias ? [x, w, bias] : [x, w], { transB: 1 }, [x.shape[0]!, dim(w.shape, 0)]);
}

export function vectorConvBackward(ctx: RuleContext, l: ConvLayer, x: Value, gy: Value, needDx: boolean): BackwardResult {
  const g = ctx.g, w = flatKernel(ctx, l);
  const [co, ci] = [dim(w.shape, 0), dim(w.shape, 1)];
  const dparams: Record<string, Value> = {};
  if (ctx.paramGrads) {
    dparams[`${l.name}/kernel`] = reshape(g, g.op('Gemm', [gy, x], { transA: 1 }, [co, ci]), [co, ci, 1, 1], [co, ci, 1, 1]);
    if (l.useBias) dparams[`${l.name}/bias`] = reduceSum(g, gy, [0], false);
  }
  return { dx: [needDx ? g.op('MatMul', [gy, w], {}, [gy.shape[0]!, ci]) : null], dparams };
}

function flatKernel(ctx: RuleContext, l: ConvLayer): Value {
  const w = ctx.param(`${l.name}/kernel`);
  const [co, ci] = [dim(w.shape, 0), dim(w.shape, 1)];
  return reshape(ctx.g, w, [co, ci], [co, ci]);
}
