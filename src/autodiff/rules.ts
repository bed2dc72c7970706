/**
 * One gradient rule per layer kind, in one table (tinygrad's habit): each emits its forward nodes and,
 * given the output gradient, its backward nodes. A layer kind without a rule does not compile.
 */
import { TagbooruError } from '../errors.ts';
import { add, avgPool2d, batchNorm, blockedConv2d, blockedKernel, blockedPays, conv2d, dense, dim, dimProduct, flatten, float, globalAvgPool, matmul, maxPool2d, poolShape, mul, relu, reshape, samePad, sigmoid, sub, takesBlocked, transpose, type Value } from '../graph/index.ts';
import { expand, reduceSum, spreadOver } from '../graph/math.ts';
import { convInputGrad, convWeightGrad, type Pads } from './conv-grad.ts';
import { separableMaxPool, separableMaxPoolGrad } from './maxpool-grad.ts';
import { vectorConvBackward, vectorConvForward } from './pooled-head.ts';
import { bnEvalBackward, bnTrainBackward, bnTrainForward } from './norm-grad.ts';
import type { ForwardResult, GradRules, RuleContext } from './types.ts';

function padsOf(x: Value, kernel: readonly [number, number], strides: readonly [number, number], padding: 'same' | 'valid'): Pads {
  if (padding === 'valid') return [0, 0, 0, 0];
  const [t, b] = samePad(dim(x.shape, 2), kernel[0], strides[0]);
  const [l, r] = samePad(dim(x.shape, 3), kernel[1], strides[1]);
  return [t, l, b, r];
}

const channelAxes = [0, 2, 3];

export const GRAD_RULES: GradRules = {
  input: {
    // NHWC in, NCHW inside: the transpose is the input layer's forward
    forward: (ctx, _l, [x]) => ({ y: transpose(ctx.g, x!, [0, 3, 1, 2], 'nchw'), saved: {} }),
    backward: (ctx, _l, _i, _f, gy) => ({ dx: [ctx.layout?.nhwc(gy, 'grad_input') ?? transpose(ctx.g, gy, [0, 2, 3, 1], 'grad_input')], dparams: {} }),
    layoutAware: true,
  },

  conv: {
    forward(ctx, l, [x]) {
      if (x!.shape.length === 2) return { y: vectorConvForward(ctx, l, x!), saved: {} };
      const w = ctx.param(`${l.name}/kernel`);
      const b = l.useBias ? ctx.param(`${l.name}/bias`) : null;
      const o = { strides: l.strides, padding: padsOf(x!, l.kernel, l.strides, l.padding), name: l.name };
      const lay = ctx.layout, ci = dim(x!.shape, 1);
      // baked weights keep the map blocked (1×1 convs too: no reorders around them to pay for)
      if (lay && takesBlocked(ci, l.filters, 1, lay.block)) return { y: lay.conv(ci < lay.block ? x! : lay.blocked(x!), blockedKernel(ctx.g, w, lay.block), b, o), saved: {} };
      const xs = lay?.nchw(x!) ?? x!;
      return { y: blockedPays(l.kernel, ci, l.filters, ctx.nchwcBlock) ? blockedConv2d(ctx.g, xs, blockedKernel(ctx.g, w, ctx.nchwcBlock), b, o, ctx.nchwcBlock) : conv2d(ctx.g, xs, w, b, o), saved: {} };
    },
    takesScaledGradient: true,
    layoutAware: true,
    backward(ctx, l, [x], _f, gy, [needDx], scale) {
      if (x!.shape.length === 2) return vectorConvBackward(ctx, l, x!, scale ? mul(ctx.g, gy, scale) : gy, needDx!);
      // with a pending per-output-channel scale s: dL/dy = s·gy, so dW = s·dW(gy) and dx = dx(gy; s·W)
      const g = ctx.g, pads = padsOf(x!, l.kernel, l.strides, l.padding);
      const kernel = ctx.param(`${l.name}/kernel`);
      const perRow = (v: Value) => {
        if (!scale) return v;
        const [co, rest] = [dim(v.shape, 0), v.shape.slice(1).reduce<number>((p, d) => p * Number(d), 1)];
        return reshape(g, mul(g, reshape(g, v, [co, rest], [co, rest]), reshape(g, scale, [co, 1], [co, 1])), v.shape.map(Number), v.shape);
      };
      const dparams: Record<string, Value> = {};
      if (ctx.paramGrads) dparams[`${l.name}/kernel`] = perRow(convWeightGrad(g, x!, gy, l.kernel, l.strides, pads, ctx.unfoldBudget));
      if (ctx.paramGrads && l.useBias) dparams[`${l.name}/bias`] = perRow(reduceSum(g, gy, channelAxes, false));
      return { dx: [needDx ? convInputGrad(g, x!.shape, perRow(kernel), gy, l.strides, pads, ctx.nchwcBlock, ctx.layout) : null], dparams };
    },
  },

  bn: {
    forward(ctx, l, [x]): ForwardResult {
      const p = (v: string) => ctx.param(`${l.name}/${v}`);
      if (ctx.mode === 'eval') return { y: batchNorm(ctx.g, x!, p('gamma'), p('beta'), p('moving_mean'), p('moving_variance'), l.epsilon, l.name), saved: {} };
      return bnTrainForward(ctx, l, x!);
    },
    backward: (ctx, l, [x], fwd, gy) => (ctx.mode === 'eval' ? bnEvalBackward(ctx, l, gy) : bnTrainBackward(ctx, l, x!, fwd, gy)),
  },

  relu: {
    forward: (ctx, l, [x]) => {
      const y = ctx.layout?.relu(x!, l.name) ?? relu(ctx.g, x!, l.name);
      return { y, saved: { y } };
    },
    // NOTE: the mask is y > 0, not x >= 0: at 0 the subgradient must be 0
    backward(ctx, _l, _i, { saved }, gy) {
      if (ctx.layout?.isMasked(gy, saved.y!)) return { dx: [gy], dparams: {} };
      const [g, y] = ctx.layout?.common([gy, saved.y!]) ?? [gy, saved.y!];
      const dx = mul(ctx.g, g!, reluMask(ctx, y!));
      return { dx: [ctx.layout?.like(dx, y!) ?? dx], dparams: {} };
    },
    layoutAware: true,
  },

  sigmoid: {
    forward: (ctx, l, [x]) => {
      const y = sigmoid(ctx.g, x!, l.name);
      return { y, saved: { y } };
    },
    backward: (ctx, _l, _i, { saved }, gy) => ({ dx: [mul(ctx.g, gy, mul(ctx.g, saved.y!, sub(ctx.g, ctx.g.scalar(1), saved.y!)))], dparams: {} }),
  },

  maxpool: {
    forward(ctx, l, [x]): ForwardResult {
      const pads = padsOf(x!, l.pool, l.strides, l.padding);
      // NOTE: a graph in the blocked layout runs the backward (the attack graph): it pools in two blocked passes
      // whose gradient needs no indices (maxpool-grad.ts), or else the index MaxPool the backward needs is the forward
      if (ctx.mode === 'eval' && !ctx.layout) return { y: maxPool2d(ctx.g, x!, l.pool, l.strides, pads, l.name), saved: {} };
      const lay = ctx.layout, xb = lay?.blocked(x!);
      const passes = lay && lay.isBlocked(xb!) ? separableMaxPool(ctx.g, xb!, l.pool, l.strides, pads, lay.block) : null;
      if (lay && passes) return { y: lay.mark(passes.y), saved: passes };
      const [y, indices] = maxPoolWithIndices(ctx, ctx.layout?.nchw(x!) ?? x!, l.pool, l.strides, pads, l.name);
      return { y, saved: { indices } };
    },
    layoutAware: true,
    backward(ctx, l, [xIn], { saved }, gyIn) {
      const lay = ctx.layout, pads = padsOf(xIn!, l.pool, l.strides, l.padding);
      if (lay && saved.z) {
        // after a ReLU, its mask on the windows' maxima (a quarter of the cells): a window whose maximum is 0 passes
        // nothing, any other passes its gradient to a positive cell, so the ReLU's own mask would change nothing
        const x = lay.blocked(xIn!), relu = lay.isRelu(x), gb = lay.blocked(gyIn);
        const dx = lay.mark(separableMaxPoolGrad(ctx.g, x, { y: saved.y!, z: saved.z }, relu ? mul(ctx.g, gb, reluMask(ctx, saved.y!)) : gb, l.pool, l.strides, pads, lay.block));
        return { dx: [relu ? lay.masked(dx, x) : dx], dparams: {} };
      }
      const x = lay?.nchw(xIn!) ?? xIn, gy = lay?.nchw(gyIn) ?? gyIn;
      // scatter-add each window's gradient to its first maximum (ORT's indices); overlapping windows add up.
      // NOTE: index-returning MaxPool + ScatterElements is a scalar loop, yet on the stem's [32,16,64,64] map it
      // takes half the time of any formulation in bulk ops, which sweep the map once per kernel tap (9 Slices,
      // Equals and masks): 0.88× the training step of bench case (a), 0.96× of (b)
      // NOTE: an eval-mode forward ran the plain kernel (no backward in validation graphs): take the indices here
      const g = ctx.g, indices = saved.indices ?? maxPoolWithIndices(ctx, x!, l.pool, l.strides, pads)[1];
      const flat = (v: Value) => reshape(g, v, [-1], [dimProduct(v.shape)]);
      const xShape = g.op('Shape', [x!], {}, [4], 'int64');
      const zeros = flat(g.op('Expand', [g.scalar(0), xShape], {}, x!.shape));
      const scattered = g.op('ScatterElements', [zeros, flat(indices), flat(gy)], { axis: 0, reduction: 'add' }, zeros.shape);
      return { dx: [g.op('Reshape', [scattered, xShape], {}, x!.shape)], dparams: {} };
    },
  },

  avgpool: {
    forward: (ctx, l, [x]) => ({ y: avgPool2d(ctx.g, x!, l.pool, l.strides, padsOf(x!, l.pool, l.strides, l.padding), l.name), saved: {} }),
    backward(ctx, l, [x], _f, gy) {
      if (l.padding === 'same') throw new TagbooruError('E_MODEL', `${l.name}: the gradient of a SAME average pool is not supported`);
      const g = ctx.g, c = dim(x!.shape, 1), [kh, kw] = l.pool;
      const w = g.initializer(g.fresh('avg_kernel'), new Float32Array(c * kh * kw).fill(1 / (kh * kw)), [c, 1, kh, kw]);
      const [ho, wo] = [dim(gy.shape, 2), dim(gy.shape, 3)];
      const outPad = [dim(x!.shape, 2) - ((ho - 1) * l.strides[0] + kh), dim(x!.shape, 3) - ((wo - 1) * l.strides[1] + kw)];
      // spread each window's gradient evenly; rows and columns past the last window get zero
      const dx = g.op('ConvTranspose', [gy, w], { kernel_shape: [kh, kw], strides: [...l.strides], group: c, output_padding: outPad }, x!.shape);
      return { dx: [dx], dparams: {} };
    },
  },

  add: {
    forward(ctx, _l, xs) {
      return { y: xs.slice(1).reduce((a, b) => ctx.layout?.add(a, b) ?? add(ctx.g, a, b), xs[0]!), saved: {} };
    },
    layoutAware: true,
    backward: (ctx, _l, xs, _f, gy) => ({ dx: xs.map((x) => unbroadcast(ctx, gy, x)), dparams: {} }),
  },

  multiply: {
    forward(ctx, _l, xs) {
      const ins = xs.map((v) => asMap(ctx, v, xs));
      return { y: ins.slice(1).reduce((a, b) => mul(ctx.g, a, b), ins[0]!), saved: {} };
    },
    backward(ctx, l, xs, _f, gy, needDx) {
      if (xs.length !== 2) throw new TagbooruError('E_MODEL', `${l.name}: the gradient of a multiply is supported for two inputs, not ${xs.length}`);
      const [a, b] = xs.map((v) => asMap(ctx, v, xs)) as [Value, Value];
      return { dx: [needDx[0] ? unbroadcast(ctx, mul(ctx.g, gy, b), xs[0]!) : null, needDx[1] ? unbroadcast(ctx, mul(ctx.g, gy, a), xs[1]!) : null], dparams: {} };
    },
  },

  gap: {
    forward: (ctx, l, [x]) => ({ y: globalAvgPool(ctx.g, x!, l.name), saved: {} }),
    backward(ctx, _l, [x], _f, gy) {
      const [c, h, w] = [dim(x!.shape, 1), dim(x!.shape, 2), dim(x!.shape, 3)];
      // NOTE: explanation graphs keep Expand: ORT fuses the row product differently with a fixed and a
      // symbolic batch (one ulp apart), and an explanation must not depend on how many images share a run
      if (ctx.mode === 'train') return { dx: [spreadOver(ctx.g, gy, h, w, 1 / (h * w))], dparams: {} };
      const g4 = reshape(ctx.g, mul(ctx.g, gy, ctx.g.scalar(1 / (h * w))), [0, 0, 1, 1], [x!.shape[0]!, c, 1, 1]);
      return { dx: [expand(ctx.g, g4, [1, 1, h, w])], dparams: {} };
    },
  },

  flatten: {
    forward(ctx, l, [x]) {
      const nhwc = x!.shape.length === 4 ? transpose(ctx.g, x!, [0, 2, 3, 1]) : x!;
      return { y: flatten(ctx.g, nhwc, l.name), saved: { nhwc } };
    },
    backward(ctx, _l, [x], { saved }, gy) {
      const nhwc = saved.nhwc!;
      const back = reshape(ctx.g, gy, [0, ...nhwc.shape.slice(1).map(Number)], nhwc.shape);
      return { dx: [x!.shape.length === 4 ? transpose(ctx.g, back, [0, 3, 1, 2]) : back], dparams: {} };
    },
  },

  dense: {
    forward(ctx, l, [x]) {
      return { y: dense(ctx.g, x!, ctx.param(`${l.name}/kernel`), l.useBias ? ctx.param(`${l.name}/bias`) : null, l.name), saved: {} };
    },
    backward(ctx, l, [x], _f, gy, [needDx]) {
      const g = ctx.g, w = ctx.param(`${l.name}/kernel`);
      const dparams: Record<string, Value> = {};
      if (ctx.paramGrads) dparams[`${l.name}/kernel`] = matmul(g, transpose(g, x!, [1, 0]), gy);
      if (ctx.paramGrads && l.useBias) dparams[`${l.name}/bias`] = reduceSum(g, gy, [0], false);
      return { dx: [needDx ? matmul(g, gy, transpose(g, w, [1, 0])) : null], dparams };
    },
  },
};

/**
 * MaxPool with its argmax indices (flat over N·C·H·W): ORT runs this variant as a scalar loop, so only on demand.
 * NOTE: run on the map viewed [1, N·C, H, W] (the same flat indices): 1.2× faster than on [N, C, H, W].
 */
function maxPoolWithIndices(ctx: RuleContext, x: Value, pool: readonly [number, number], strides: readonly [number, number], pads: Pads, name?: string): [Value, Value] {
  const g = ctx.g, [n, c, h, w] = [x.shape[0]!, dim(x.shape, 1), dim(x.shape, 2), dim(x.shape, 3)];
  const planes = dimProduct([n, c]);
  const { shape } = poolShape(x, pool, strides, pads);
  const [ho, wo] = [dim(shape, 2), dim(shape, 3)];
  const flat = reshape(g, x, [1, -1, h, w], [1, planes, h, w]);
  const [y, indices] = g.opN('MaxPool', [flat], { kernel_shape: [...pool], strides: [...strides], pads: [...pads] }, [{ shape: [1, planes, ho, wo], dtype: 'float32' }, { shape: [1, planes, ho, wo], dtype: 'int64' }]);
  const back = (v: Value, label?: string) => reshape(g, v, [-1, c, ho, wo], shape, label);
  return [back(y!, name), back(indices!)];
}

/**
 * y > 0 as 0 or 1, as HardSigmoid(2¹²⁷·y) = clip(2¹²⁷·y, 0, 1): one op where Greater and Cast are two (4.4 ms
 * against 5.6–6.1 over the attack graph's 31 masks; Where is 1.5× slower than both). Equal to y > 0 for 0 and every
 * normal float; a subnormal y (< 2⁻¹²⁶, a sum cancelling to 38 digits) passes a fraction of its gradient.
 */
function reluMask(ctx: RuleContext, y: Value): Value {
  return ctx.g.op('HardSigmoid', [y], { alpha: float(2 ** 127), beta: float(0) }, y.shape);
}

/** A [N,C] vector that meets an [N,C,H,W] map (squeeze-excitation) becomes [N,C,1,1]. */
function asMap(ctx: RuleContext, v: Value, all: readonly Value[]): Value {
  if (v.shape.length === 2 && all.some((o) => o.shape.length === 4)) return reshape(ctx.g, v, [0, 0, 1, 1], [v.shape[0]!, v.shape[1]!, 1, 1]);
  return v;
}

/** Sum a broadcast gradient back to the operand's shape. */
function unbroadcast(ctx: RuleContext, gy: Value, x: Value): Value {
  if (gy.shape.length === x.shape.length && gy.shape.every((d, i) => d === x.shape[i])) return gy;
  if (x.shape.length === 2 && gy.shape.length === 4) return reduceSum(ctx.g, ctx.layout?.nchw(gy) ?? gy, [2, 3], false);
  throw new TagbooruError('E_MODEL', `cannot reduce a gradient of [${gy.shape.join(',')}] to [${x.shape.join(',')}]`);
}
