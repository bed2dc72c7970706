/**
 * Adversarial training inside the training step graph: the L∞ attack that replaces part of each batch by
 * its adversarial version before the step's own forward. FGSM with a random start (Wong, Rice & Kolter 2020,
 * "Fast is better than free") is one gradient pass; PGD (Madry et al. 2018) unrolls `steps` of them. Each
 * pass is a training-mode forward to the loss and a backward to the input only (no parameter gradients),
 * through the same rules as the step, so the attack sees exactly the function the step trains.
 *
 * The budget is in pixel units (1 = black to white), whatever the model's input normalisation is: `pixel`
 * says where [0, 1] lies on each input channel. With δ0 = ε·u, u ~ U(−1, 1) fed as `noise`:
 *   a0 = clip(p + δ0, 0, 1);  a(k+1) = clip(clip(a(k) + α·sign ∇ₚL(a(k)), p − ε, p + ε), 0, 1)
 * The gradient with respect to the pixels is the input gradient times the (positive) channel scale, so its
 * sign is the input gradient's.
 */
import { InvariantError } from '../errors.ts';
import { add, dim, mul, sub, type Graph, type Value } from '../graph/index.ts';
import { concat, max, min, slice } from '../graph/math.ts';

export type AdversarialMethod = 'fgsm-rs' | 'pgd';

/**
 * What the attack maximises. `all-tags`: the training loss over every known label of the sample, the usual
 * untargeted attack. `one-tag`: the loss of one tag per sample, fed as `attack_mask` (a one-hot row; the trainer
 * draws a known positive to hide or a known negative to add), the threat model of a tagger, where an attacker
 * spends the whole budget on one tag (docs/adversarial.md).
 */
export type AdversarialGoal = 'all-tags' | 'one-tag';

/** Where pixel values 0–1 lie in the model's input: input = pixel·scale[c] + offset[c] on the channel (last, NHWC) axis. */
export interface PixelMap {
  readonly scale: readonly number[];
  readonly offset: readonly number[];
}

export interface AdversarialOptions {
  readonly method: AdversarialMethod;
  /** L∞ radius in pixel units. */
  readonly eps: number;
  /** Gradient passes: 1 for fgsm-rs. */
  readonly steps: number;
  /** α, in pixel units. */
  readonly stepSize: number;
  /** The first ⌈ratio·batch⌉ samples of each batch are attacked; the rest train clean. */
  readonly ratio: number;
  /** Default `all-tags`. */
  readonly goal?: AdversarialGoal;
  /** `one-tag`: the odds that a sample's drawn label is a positive to hide (default DEFAULT_HIDE_SHARE). The trainer draws it (train/engine.ts); the graph takes the draw as `attack_mask`. */
  readonly hideShare?: number;
  /** Omitted: the input is the pixels themselves (the deepdanbooru preset). */
  readonly pixel?: PixelMap;
  /** Also output the attack's start, its first input gradient and the final input (tests). */
  readonly debug?: boolean;
}

/** The one-tag goal's odds of hiding when a project does not say: as many attacks hide a tag as add one. */
export const DEFAULT_HIDE_SHARE = 0.5;

/** α as the papers set it: 1.25ε for FGSM-RS (Wong et al.), 2.5ε/steps for PGD (Madry et al.). */
export function defaultStepSize(method: AdversarialMethod, eps: number, steps: number): number {
  return method === 'fgsm-rs' ? 1.25 * eps : (2.5 * eps) / steps;
}

/** The samples of a batch that are attacked: ⌈ratio·batch⌉, robust to ratio·batch landing a rounding error above an integer. */
export function attackedCount(batch: number, ratio: number): number {
  return Math.min(batch, Math.ceil(ratio * batch - 1e-9));
}

/** The input gradient of the (masked) loss at `input`, for `labels` and `mask` of the same samples. */
export type InputGradient = (input: Value, labels: Value, mask: Value) => Value;

export interface Perturbed {
  /** The batch the step trains on: the attacked samples first, then the clean ones. */
  readonly x: Value;
  /** With `debug`: the graph outputs that show the attack's work. */
  readonly debug: Readonly<Record<string, Value>>;
}

export const DEBUG_OUTPUTS = {
  /** The first attack point a0, in input units: [attacked, H, W, C]. */
  start: 'adv:start',
  /** The input gradient at a0. */
  grad: 'adv:grad',
  /** The batch the step trained on, in input units. */
  x: 'adv:x',
} as const;

/**
 * `x`, `labels`, `mask`: the whole batch; `noise` [attacked, H, W, C] uniform in [−1, 1]; `attackMask`
 * [attacked, tags], with the `one-tag` goal: the labels the attack's loss counts, in place of `mask`'s.
 */
export function perturbBatch(g: Graph, x: Value, labels: Value, mask: Value, noise: Value, o: AdversarialOptions, inputGradient: InputGradient, attackMask?: Value): Perturbed {
  const batch = dim(x.shape, 0), n = dim(noise.shape, 0);
  if (n !== attackedCount(batch, o.ratio) || n === 0) throw new InvariantError(`the noise covers ${n} samples; ratio ${o.ratio} of ${batch} attacks ${attackedCount(batch, o.ratio)}`);
  const head = (v: Value) => (n === batch ? v : slice(g, v, [0], [n], [0]));
  const ys = head(labels), ms = attackMask ?? head(mask);
  const { toPixels, toInput } = pixelMaps(g, o.pixel);
  const p = toPixels(head(x));
  // the ε-ball ∩ [0, 1] (p lies in both, so clipping to the intersection is clipping to one, then the other)
  const lo = max(g, sub(g, p, g.scalar(o.eps)), g.scalar(0)), hi = min(g, add(g, p, g.scalar(o.eps)), g.scalar(1));
  let a = clipToBox(g, add(g, p, mul(g, noise, g.scalar(o.eps))), lo, hi);
  const debug: Record<string, Value> = {};
  for (let k = 0; k < o.steps; k++) {
    const input = toInput(a);
    const grad = inputGradient(input, ys, ms);
    if (k === 0 && o.debug) Object.assign(debug, { [DEBUG_OUTPUTS.start]: input, [DEBUG_OUTPUTS.grad]: grad });
    a = signedStep(g, a, grad, g.scalar(o.stepSize), lo, hi);
  }
  const attacked = toInput(a);
  const out = n === batch ? attacked : concat(g, [attacked, slice(g, x, [n], [batch], [0])], 0);
  if (o.debug) debug[DEBUG_OUTPUTS.x] = out;
  return { x: out, debug };
}

function clipToBox(g: Graph, v: Value, lo: Value, hi: Value): Value {
  return min(g, max(g, v, lo), hi);
}

/**
 * clip(a + step·sign(grad), lo, hi): one step of L∞ PGD and its projection onto the box, as graph nodes (the
 * training step's attack here; the `attack` command's, src/robust/linf-step.ts). `step` < 0 descends.
 * NOTE: sign(grad) as clip(grad·2¹²⁶, −1, 1), two ops ONNX Runtime vectorises, where its Sign kernel is scalar
 * (docs/adversarial.md, Speed). The two agree on 0 and every normal float; a subnormal gradient
 * (|grad| < 2⁻¹²⁶) moves its pixel by a fraction of the step.
 */
export function signedStep(g: Graph, a: Value, grad: Value, step: Value, lo: Value, hi: Value): Value {
  const sign = g.op('Clip', [mul(g, grad, g.scalar(2 ** 126)), g.scalar(-1), g.scalar(1)], {}, grad.shape);
  return clipToBox(g, add(g, a, mul(g, sign, step)), lo, hi);
}

/** input ↔ pixels by the channel affine map; the identity emits no nodes. */
function pixelMaps(g: Graph, pixel: PixelMap | undefined): { toPixels: (v: Value) => Value; toInput: (v: Value) => Value } {
  const identity = !pixel || (pixel.scale.every((s) => s === 1) && pixel.offset.every((b) => b === 0));
  if (identity) return { toPixels: (v) => v, toInput: (v) => v };
  if (pixel.scale.some((s) => !(s > 0))) throw new InvariantError(`pixel scales must be positive, got [${pixel.scale.join(', ')}]`);
  const c = pixel.scale.length;
  const scale = g.constant(pixel.scale, [c]), offset = g.constant(pixel.offset, [c]);
  const inverse = g.constant(pixel.scale.map((s) => 1 / s), [c]);
  return { toPixels: (v) => mul(g, sub(g, v, offset), inverse), toInput: (v) => add(g, mul(g, v, scale), offset) };
}
