/**
 * Multi-label losses on logits, each as its value and its gradient with respect to the logits, both as
 * graph nodes. log σ(z) = −softplus(−z) and log(1 − σ(z)) = −softplus(z) keep them finite for any logit.
 *
 * Every loss takes a per-sample, per-tag mask m (0 = unknown, DESIGN.md decision 13) and reduces as
 * Σ m·ℓ / max(1, Σ m): the mean over the known entries of the whole batch. With m all ones this is the
 * mean over tags and batch, as Keras reduces BinaryCrossentropy, so the learning rates of DeepDanbooru's
 * projects keep their meaning. A per-sample mean was rejected: a sample with most tags unknown (a
 * greyscaled picture, a partially labelled post) would weigh each of its few known tags up to T times
 * more than a fully known sample does. max(1, ·) makes an all-unknown batch a zero loss, not 0/0.
 *
 * A group of mutually exclusive tags (models/exclusive.ts) trains as one categorical cross-entropy over its
 * K tags and "none of them", whatever the loss of the other tags: per sample
 *   log(1 + Σ_k e^{z_k}) − Σ_k t_k·z_k,   ∂/∂z_k = p_k − t_k,
 * known only where all K labels are (a crop that may have cut a character out leaves the count unknown). It
 * enters the sum in place of the K per-tag terms and the denominator still counts K entries, so a loss that
 * is right on a group weighs what K right sigmoids weighed. Labels with two members set are not a category;
 * the formula then reads t_none = 1 − Σ t as negative, so a data set should not give them.
 */
import { add, dim, mul, relu, sigmoid, sub, type Graph, type Value } from '../graph/index.ts';
import { abs, exp, log, max, neg, pow, reciprocal, reduceSum } from '../graph/math.ts';
import { groupsOf, logPartition, probabilityOf, scatterGroup, shiftedLogits, type ExclusiveGroups } from '../models/exclusive.ts';

export interface LossOutput {
  readonly loss: Value; // scalar
  readonly dlogits: Value;
  readonly probs: Value;
}

export type LossName = 'binary_crossentropy' | 'focal_loss' | 'asymmetric_loss' | 'mean_squared_error';
/** The multi-label losses a tagger trains with; `mean_squared_error` is the de-noiser's regression loss. */
export const LOSSES: readonly LossName[] = ['binary_crossentropy', 'focal_loss', 'asymmetric_loss'];

export interface LossOptions {
  /** focal loss (DeepDanbooru's defaults) */
  readonly alpha?: number;
  readonly gamma?: number;
  /** asymmetric loss (Ridnik et al. 2021) */
  readonly gammaPos?: number;
  readonly gammaNeg?: number;
  readonly clip?: number;
}

/** softplus(z) = relu(z) + log(1 + exp(−|z|)) */
function softplus(g: Graph, z: Value): Value {
  return add(g, relu(g, z), log(g, add(g, g.scalar(1), exp(g, neg(g, abs(g, z))))));
}

function sumAll(g: Graph, x: Value): Value {
  return reduceSum(g, x, x.shape.map((_, i) => i), false);
}

/** 1 / max(1, Σm): the masked mean's denominator. */
function meanScale(g: Graph, m: Value): Value {
  return reciprocal(g, max(g, sumAll(g, m), g.scalar(1)));
}

/** m / max(1, Σm): a mask with the masked mean's denominator folded in. */
function meanWeight(g: Graph, m: Value): Value {
  return mul(g, m, meanScale(g, m));
}

/** `z` logits, `t` labels and `m` the known-label mask, all [N, T]; `groups` the model's exclusive tags. */
export function buildLoss(g: Graph, name: LossName, z: Value, t: Value, m: Value, options: LossOptions = {}, groups: ExclusiveGroups = []): LossOutput {
  if (groups.length === 0) return perTagLoss(g, name, z, t, meanWeight(g, m), options);
  const tags = dim(z.shape, 1), scale = meanScale(g, m);
  const grouped = new Set(groups.flat());
  const free = g.constant(Array.from({ length: tags }, (_, i) => (grouped.has(i) ? 0 : 1)), [1, tags]);
  const rest = perTagLoss(g, name, z, t, mul(g, mul(g, m, free), scale), options);
  let { loss, dlogits } = rest;
  const built = groupsOf(g, z, groups);
  for (const group of built) {
    const n = z.shape[0]!, k = group.indices.length;
    const pick = (x: Value) => g.op('Gather', [x, g.ints(group.indices)], { axis: 1 }, [n, k]);
    const tg = pick(t);
    // the sample's weight: known only where every member is
    const w = mul(g, g.op('ReduceMin', [pick(m)], { axes: [1], keepdims: 1 }, [n, 1]), scale);
    const ce = sub(g, logPartition(g, group), reduceSum(g, mul(g, tg, group.z), [1], true));
    loss = add(g, loss, sumAll(g, mul(g, ce, w)));
    dlogits = add(g, dlogits, scatterGroup(g, mul(g, sub(g, probabilityOf(g, group), tg), w), group.indices, tags));
  }
  return { loss, dlogits, probs: sigmoid(g, shiftedLogits(g, z, built)) };
}

/** Each tag's own loss, every entry weighted by `weight` (the mask over the mean's denominator). */
function perTagLoss(g: Graph, name: LossName, z: Value, t: Value, weight: Value, options: LossOptions): LossOutput {
  const p = sigmoid(g, z);
  const one = g.scalar(1);
  const mean = (x: Value) => sumAll(g, mul(g, x, weight));
  const logP = neg(g, softplus(g, neg(g, z)));
  const log1mP = neg(g, softplus(g, z));
  const q = sub(g, one, p); // 1 − p
  const notT = sub(g, one, t);
  switch (name) {
    case 'mean_squared_error': {
      // a regression on the raw outputs (a de-noised image): z is the prediction, t the target, any shape
      const d = sub(g, z, t);
      return { loss: mean(mul(g, d, d)), probs: z, dlogits: mul(g, mul(g, d, g.scalar(2)), weight) };
    }
    case 'binary_crossentropy': {
      const loss = mean(sub(g, softplus(g, z), mul(g, t, z)));
      return { loss, probs: p, dlogits: mul(g, sub(g, p, t), weight) };
    }
    case 'focal_loss': {
      const alpha = options.alpha ?? 0.25, gamma = options.gamma ?? 2;
      const gm = g.scalar(gamma);
      // L = −α·t·(1−p)^γ·log p − (1−α)·(1−t)·p^γ·log(1−p)
      const qg = pow(g, q, gm), pg = pow(g, p, gm);
      const pos = mul(g, mul(g, t, qg), logP), negTerm = mul(g, mul(g, notT, pg), log1mP);
      const loss = mean(neg(g, add(g, mul(g, pos, g.scalar(alpha)), mul(g, negTerm, g.scalar(1 - alpha)))));
      // ∂/∂z: α·t·(1−p)^γ·(γ·p·log p − (1−p)) + (1−α)·(1−t)·p^γ·(p − γ·(1−p)·log(1−p))
      const dPos = mul(g, mul(g, t, qg), sub(g, mul(g, mul(g, gm, p), logP), q));
      const dNeg = mul(g, mul(g, notT, pg), sub(g, p, mul(g, mul(g, gm, q), log1mP)));
      const d = add(g, mul(g, dPos, g.scalar(alpha)), mul(g, dNeg, g.scalar(1 - alpha)));
      return { loss, probs: p, dlogits: mul(g, d, weight) };
    }
    case 'asymmetric_loss': {
      const gp = options.gammaPos ?? 0, gn = options.gammaNeg ?? 4, clip = options.clip ?? 0.05;
      // positives: focal with γ+; negatives: the shifted probability p_m = max(p − m, 0) with γ−
      const qgp = pow(g, q, g.scalar(gp));
      const pm = max(g, sub(g, p, g.scalar(clip)), g.scalar(0));
      const log1mPm = log(g, sub(g, one, pm)); // 1 − p_m ≥ m > 0 when clipped
      const pmg = pow(g, pm, g.scalar(gn));
      const loss = mean(neg(g, add(g, mul(g, mul(g, t, qgp), logP), mul(g, mul(g, notT, pmg), log1mPm))));
      const dPos = mul(g, mul(g, t, qgp), sub(g, mul(g, mul(g, g.scalar(gp), p), logP), q));
      // d/dz[−p_m^γ·log(1−p_m)] = p(1−p)·(p_m^γ/(1−p_m) − γ·p_m^(γ−1)·log(1−p_m)), zero where p ≤ m
      const pmg1 = pow(g, pm, g.scalar(Math.max(gn - 1, 0)));
      const inner = sub(g, mul(g, pmg, pow(g, sub(g, one, pm), g.scalar(-1))), mul(g, mul(g, g.scalar(gn), pmg1), log1mPm));
      const active = g.op('Cast', [g.op('Greater', [pm, g.scalar(0)], {}, pm.shape, 'bool')], { to: 1 }, pm.shape);
      const dNeg = mul(g, mul(g, notT, active), mul(g, mul(g, p, q), inner));
      return { loss, probs: p, dlogits: mul(g, add(g, dPos, dNeg), weight) };
    }
  }
}

export interface DistillationOptions {
  /** Weight of the soft term: (1 − α)·hard + α·T²·soft; α = 0 is the hard loss alone. */
  readonly alpha: number;
  /** T > 0: both the student's and the teacher's logits are divided by it before the sigmoid. */
  readonly temperature: number;
}

/**
 * Knowledge distillation (Hinton et al. 2015) per tag: the hard loss on the labels mixed with the binary
 * cross-entropy between σ(z/T) and the teacher's σ(s/T),
 *   L = (1 − α)·hard + α·T²·Σ k·(softplus(z/T) − σ(s/T)·z/T) / max(1, Σ k),
 * with `s` the teacher's logits and `k` [N, T] 1 where the teacher knows the tag. The soft term has its own
 * mask: a label the database does not know still has the teacher's opinion, and a tag the teacher lacks has
 * none. Cross-entropy rather than KL: the two differ by the teacher's entropy, a constant, so the gradient is
 * the same, and with hard 0/1 targets at T = 1 the soft term is exactly the BCE. T² keeps the soft gradient,
 * α·T·(σ(z/T) − σ(s/T)), on the scale of the hard one as T grows.
 */
export function withDistillation(g: Graph, hard: LossOutput, z: Value, s: Value, k: Value, o: DistillationOptions): LossOutput {
  const invT = g.scalar(1 / o.temperature);
  const u = mul(g, z, invT);
  const q = sigmoid(g, mul(g, s, invT));
  const weight = meanWeight(g, k);
  const soft = sumAll(g, mul(g, sub(g, softplus(g, u), mul(g, q, u)), weight));
  const a = g.scalar(1 - o.alpha), b = g.scalar(o.alpha * o.temperature ** 2);
  const dSoft = mul(g, mul(g, sub(g, sigmoid(g, u), q), weight), g.scalar(o.alpha * o.temperature));
  return {
    loss: add(g, mul(g, hard.loss, a), mul(g, soft, b)),
    dlogits: add(g, mul(g, hard.dlogits, a), dSoft),
    probs: hard.probs,
  };
}
