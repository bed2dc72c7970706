/**
 * Batch normalisation's gradients. In training mode, forward and backward with as few full passes over the
 * map as standard ops allow (each is a memory-bound sweep on CPU; see README.md, Benchmarks: training):
 * - forward: Σx and Σx² (the variance as E[x²] − μ², so no centred copy is written or kept), then the
 *   inference BatchNormalization kernel fed the batch statistics;
 * - backward: Σgy and Σgy·x, then gy + b·x + c by the BN kernel as an affine map and one Add; the common
 *   factor a = γ/σ is returned as a pending scale for the conv before it to fold into its small kernel.
 * In inference mode (explanation graphs) BN is a per-channel affine map on the moving statistics: the
 * backward is that same pending scale alone, so it costs no pass at all when a conv precedes it.
 */
import { add, batchNorm, dim, mul, reshape, sub, type Value } from '../graph/index.ts';
import { div, max, reduceSum, sqrt } from '../graph/math.ts';
import type { Layer } from '../models/spec.ts';
import type { BackwardResult, ForwardResult, RuleContext } from './types.ts';

type BnLayer = Extract<Layer, { kind: 'bn' }>;

/** Elements per channel of an [N,C,H,W] map. */
export const perChannel = (x: Value) => dim(x.shape, 0) * dim(x.shape, 2) * dim(x.shape, 3);

/**
 * Σ over N, H, W of an [N,C,H,W] map, as [C]. NOTE: two reductions (the contiguous spatial axis, then the
 * batch) run 2–3× faster in ORT than one ReduceSum over axes [0,2,3].
 */
export function channelSum(ctx: RuleContext, x: Value): Value {
  return reduceSum(ctx.g, reduceSum(ctx.g, flatMaps(ctx, x), [2], false), [0], false);
}

/** Σx² over N, H, W as [C]. */
export const channelSumSquares = (ctx: RuleContext, x: Value): Value => channelDot(ctx, x, x);

/**
 * Σa·b over N, H, W as [C]. NOTE: on maps of DOT_BY_CONV_MIN_CELLS cells and more, a depthwise Conv whose kernel
 * is the other map (one dot product per sample and channel, nothing written) runs 1.5–5× faster in ORT than Mul +
 * ReduceSum or ReduceSumSquare; on smaller maps its per-group overhead loses, and ReduceSumSquare at least writes
 * no squared copy (see README.md, Benchmarks: training).
 */
export function channelDot(ctx: RuleContext, a: Value, b: Value): Value {
  const g = ctx.g, [n, c, h, w] = [dim(a.shape, 0), dim(a.shape, 1), dim(a.shape, 2), dim(a.shape, 3)];
  if (h * w < DOT_BY_CONV_MIN_CELLS) {
    if (a !== b) return channelSum(ctx, mul(g, a, b));
    return reduceSum(g, g.op('ReduceSumSquare', [flatMaps(ctx, a)], { axes: [2], keepdims: 0 }, [n, c]), [0], false);
  }
  const planes = n * c;
  const input = reshape(g, a, [1, planes, h, w], [1, planes, h, w]), kernel = reshape(g, b, [planes, 1, h, w], [planes, 1, h, w]);
  const dots = g.op('Conv', [input, kernel], { group: planes, kernel_shape: [h, w] }, [1, planes, 1, 1]);
  return reduceSum(g, reshape(g, dots, [n, c], [n, c]), [0], false);
}

const DOT_BY_CONV_MIN_CELLS = 512;

const flatMaps = (ctx: RuleContext, x: Value) => {
  const [n, c, p] = [dim(x.shape, 0), dim(x.shape, 1), dim(x.shape, 2) * dim(x.shape, 3)];
  return reshape(ctx.g, x, [n, c, p], [n, c, p]);
};

export function bnTrainForward(ctx: RuleContext, l: BnLayer, x: Value): ForwardResult {
  const g = ctx.g, m = perChannel(x);
  const p = (v: string) => ctx.param(`${l.name}/${v}`);
  const mean = mul(g, channelSum(ctx, x), g.scalar(1 / m));
  // NOTE: E[x²] − μ² loses digits only when |μ| ≫ σ (not the case for conv outputs); clamped at 0
  const variance = max(g, sub(g, mul(g, channelSumSquares(ctx, x), g.scalar(1 / m)), mul(g, mean, mean)), g.scalar(0));
  const y = batchNorm(g, x, p('gamma'), p('beta'), mean, variance, l.epsilon, l.name);
  // Keras: moving = moving·momentum + batch·(1 − momentum), with the unbiased batch variance
  const keep = g.scalar(l.momentum), take = g.scalar(1 - l.momentum);
  ctx.setState(`${l.name}/moving_mean`, add(g, mul(g, p('moving_mean'), keep), mul(g, mean, take)));
  ctx.setState(`${l.name}/moving_variance`, add(g, mul(g, p('moving_variance'), keep), mul(g, variance, g.scalar((1 - l.momentum) * m / Math.max(m - 1, 1)))));
  const inv = div(g, g.scalar(1), sqrt(g, add(g, variance, g.scalar(l.epsilon))));
  return { y, saved: { mean, inv } };
}

export function bnTrainBackward(ctx: RuleContext, l: BnLayer, x: Value, { saved }: ForwardResult, gy: Value): BackwardResult {
  const g = ctx.g, c = dim(x.shape, 1), m = perChannel(x);
  const { mean, inv } = saved as { mean: Value; inv: Value };
  const sg = channelSum(ctx, gy);
  // Σgy·(x − μ) = Σgy·x − μ·Σgy: x is alive anyway, a centred copy would be one more map
  const sgxc = sub(g, channelDot(ctx, gy, x), mul(g, mean, sg));
  // dx = a·(gy + b·x + c) with a = γ·inv, b = −inv²·Σgy·xc/M, c = −Σgy/M − b·μ
  const a = mul(g, ctx.param(`${l.name}/gamma`), inv);
  const b = mul(g, mul(g, inv, inv), mul(g, sgxc, g.scalar(-1 / m)));
  const cc = sub(g, mul(g, sg, g.scalar(-1 / m)), mul(g, b, mean));
  // b·x + c by the inference kernel: mean 0 and variance 1 − ε make it a plain per-channel affine map
  const zeros = g.constant(new Array<number>(c).fill(0), [c]), ones = g.constant(new Array<number>(c).fill(1 - l.epsilon), [c]);
  const dx = add(g, gy, batchNorm(g, x, b, cc, zeros, ones, l.epsilon));
  return { dx: [dx], dxScale: [a], dparams: ctx.paramGrads ? { [`${l.name}/gamma`]: mul(g, sgxc, inv), [`${l.name}/beta`]: sg } : {} };
}

/** dx = gy·γ/√(moving_variance + ε), per channel, left to the consumer as a pending scale. No parameter gradients. */
export function bnEvalBackward(ctx: RuleContext, l: BnLayer, gy: Value): BackwardResult {
  const g = ctx.g, p = (v: string) => ctx.param(`${l.name}/${v}`);
  // NOTE: with baked weights this is a constant subgraph: ORT folds it (and, after a conv, into its kernel)
  const a = div(g, p('gamma'), sqrt(g, add(g, p('moving_variance'), g.scalar(l.epsilon))));
  return { dx: [gy], dxScale: [a], dparams: {} };
}
