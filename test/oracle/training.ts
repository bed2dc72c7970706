/**
 * The float64 oracle for training: the forward pass with batch-statistics BatchNormalization, the three
 * losses on logits, and central finite differences of the loss. ORT has no float64 Conv, so every gradient
 * rule is checked against this.
 */
import { exclusiveGroupsOf } from '../../src/models/exclusive.ts';
import type { ModelSpec, Weights } from '../../src/models/spec.ts';
import { forwardLayer, tensor, type Tensor } from './reference.ts';

export type Float64Weights = Map<string, Float64Array>;
export type LossName = 'binary_crossentropy' | 'focal_loss' | 'asymmetric_loss';

/** Normalise NHWC x over (n, h, w) per channel with the batch's biased statistics. */
function batchNormTrain(x: Tensor, gamma: Float64Array, beta: Float64Array, epsilon: number): { y: Tensor; mean: Float64Array; variance: Float64Array } {
  const c = x.shape.at(-1)!, m = x.data.length / c;
  const mean = new Float64Array(c), variance = new Float64Array(c);
  x.data.forEach((v, i) => (mean[i % c]! += v / m));
  x.data.forEach((v, i) => (variance[i % c]! += (v - mean[i % c]!) ** 2 / m));
  const y = x.data.map((v, i) => gamma[i % c]! * (v - mean[i % c]!) / Math.sqrt(variance[i % c]! + epsilon) + beta[i % c]!);
  return { y: { data: y, shape: x.shape }, mean, variance };
}

export interface TrainForward {
  readonly logits: Tensor;
  /** Batch statistics per BN layer (biased variance). */
  readonly batchStats: Map<string, { mean: Float64Array; variance: Float64Array }>;
}

export function referenceTrainForward(spec: ModelSpec, weights: Float64Weights, inputNHWC: ArrayLike<number>, batch: number): TrainForward {
  const acts = new Map<string, Tensor>();
  const batchStats = new Map<string, { mean: Float64Array; variance: Float64Array }>();
  const out = spec.layers.find((l) => l.name === spec.output)!;
  const logitsLayer = out.kind === 'sigmoid' ? out.input : out.name;
  for (const layer of spec.layers) {
    if (layer.kind === 'input') {
      acts.set(layer.name, tensor(inputNHWC, [batch, ...layer.shape]));
      continue;
    }
    const ins = ('inputs' in layer ? layer.inputs : [layer.input]).map((n) => acts.get(n)!);
    if (layer.kind === 'bn') {
      const r = batchNormTrain(ins[0]!, weights.get(`${layer.name}/gamma`)!, weights.get(`${layer.name}/beta`)!, layer.epsilon);
      acts.set(layer.name, r.y);
      batchStats.set(layer.name, { mean: r.mean, variance: r.variance });
    } else {
      // the oracle's layer functions read float64 data through Float64Array.from, so a float64 map fits
      acts.set(layer.name, forwardLayer(layer, ins, weights as unknown as Weights));
    }
    if (layer.name === logitsLayer) break;
  }
  return { logits: acts.get(logitsLayer)!, batchStats };
}

const softplus = (z: number) => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));

/**
 * Σ m·ℓ / max(1, Σ m) over the known entries (`mask` absent: all known), as losses.ts reduces. A group of
 * exclusive tags (`groups`, tag indices; needs `tags`) is one textbook categorical cross-entropy per sample,
 * −Σ_k t_k·log p_k − t_none·log p_none over the softmax of [z_1 … z_K, 0], counted where all K are known.
 */
export function referenceLoss(name: LossName, logits: ArrayLike<number>, labels: ArrayLike<number>, mask?: ArrayLike<number>, groups: readonly (readonly number[])[] = [], tags = logits.length): number {
  let total = 0, known = 0;
  const grouped = new Set(groups.flat());
  for (let n = 0; n < logits.length / tags; n++) {
    for (const group of groups) {
      const at = group.map((k) => n * tags + k);
      if (at.some((i) => (mask ? mask[i]! : 1) === 0)) continue;
      const z = [...at.map((i) => logits[i]!), 0], top = Math.max(...z);
      const logZ = top + Math.log(z.reduce((s, v) => s + Math.exp(v - top), 0));
      const t = at.map((i) => labels[i]!);
      const none = 1 - t.reduce((s, v) => s + v, 0);
      total += -t.reduce((s, v, k) => s + v * (z[k]! - logZ), 0) - none * (0 - logZ);
    }
  }
  for (let i = 0; i < logits.length; i++) {
    const m = mask ? mask[i]! : 1;
    known += m;
    if (m === 0 || grouped.has(i % tags)) continue;
    const z = logits[i]!, t = labels[i]!, p = 1 / (1 + Math.exp(-z));
    const logP = -softplus(-z), log1mP = -softplus(z);
    if (name === 'binary_crossentropy') total += m * -(t * logP + (1 - t) * log1mP);
    else if (name === 'focal_loss') total += m * (-0.25 * t * (1 - p) ** 2 * logP - 0.75 * (1 - t) * p ** 2 * log1mP);
    else {
      const pm = Math.max(p - 0.05, 0);
      total += m * (-t * logP - (1 - t) * pm ** 4 * Math.log(1 - pm));
    }
  }
  return total / Math.max(1, known);
}

/** A teacher's logits and where it knows the tag, with the mix of losses.ts' withDistillation. */
export interface ReferenceTeacher {
  readonly logits: ArrayLike<number>;
  readonly mask: ArrayLike<number>;
  readonly alpha: number;
  readonly temperature: number;
}

/** −Σ k·(q·log σ(z/T) + (1 − q)·log(1 − σ(z/T))) / max(1, Σ k), q = σ(s/T): the soft term, written as the textbook BCE. */
export function referenceSoftLoss(logits: ArrayLike<number>, t: ReferenceTeacher): number {
  let total = 0, known = 0;
  for (let i = 0; i < logits.length; i++) {
    const k = t.mask[i]!;
    known += k;
    if (k === 0) continue;
    const u = logits[i]! / t.temperature, q = 1 / (1 + Math.exp(-t.logits[i]! / t.temperature));
    total += k * (q * softplus(-u) + (1 - q) * softplus(u));
  }
  return total / Math.max(1, known);
}

export function referenceDistillationLoss(name: LossName, logits: ArrayLike<number>, labels: ArrayLike<number>, mask: ArrayLike<number> | undefined, t: ReferenceTeacher): number {
  return (1 - t.alpha) * referenceLoss(name, logits, labels, mask) + t.alpha * t.temperature ** 2 * referenceSoftLoss(logits, t);
}

export function referenceObjective(spec: ModelSpec, weights: Float64Weights, x: ArrayLike<number>, batch: number, labels: ArrayLike<number>, loss: LossName, mask?: ArrayLike<number>, teacher?: ReferenceTeacher): number {
  const logits = referenceTrainForward(spec, weights, x, batch).logits.data;
  return teacher ? referenceDistillationLoss(loss, logits, labels, mask, teacher) : referenceLoss(loss, logits, labels, mask, exclusiveGroupsOf(spec), logits.length / batch);
}

/** Central difference of `f` in one coordinate of `values`, restoring it afterwards. */
export function centralDifference(values: Float64Array, index: number, f: () => number, eps = 1e-6): number {
  const saved = values[index]!;
  values[index] = saved + eps;
  const up = f();
  values[index] = saved - eps;
  const down = f();
  values[index] = saved;
  return (up - down) / (2 * eps);
}

export function toFloat64(weights: Weights): Float64Weights {
  return new Map([...weights].map(([k, v]) => [k, Float64Array.from(v)]));
}
