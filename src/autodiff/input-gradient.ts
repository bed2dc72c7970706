/**
 * The attack graph (step 13): the eval-mode forward on baked weights, a per-tag margin loss on the logits, and
 * the backward sweep down to the input image only. Adversarial training reuses `marginLoss` and the same
 * `backward(…, { input: true })` inside its step graph.
 *
 * Per tag t of image b the loss is w·relu(offset − sign·z): sign +1 wants the logit z above a level, −1 below it;
 * `offset` = sign·level + margin, so the term is zero once z is past the level by the margin. The attacker
 * minimises Σ_t of it. Inputs: `x` [B,H,W,3] (NHWC: the model's input tensor, or with `pixels` the image in
 * [0, 1] before its normalisation), `sign`, `offset`, `weight` [B,T]. Outputs: `logits` [B,T], `loss` [B],
 * `input_grad` (∂loss/∂x, shaped as `x`). With `linfStep`, also `pgd`'s next L∞ iterate from x: inputs `lo`, `hi`
 * (x's box, shaped as `x`) and `eta` [B,1,1,1], output `next` = clip(x − η·sign(∂loss/∂x), lo, hi).
 */
import { Graph, add, mul, relu, sub, type Value } from '../graph/index.ts';
import { cast, concat, greater, neg, reduceSum, slice } from '../graph/math.ts';
import { exclusiveGroupsOf, groupsOf, shiftedLogits } from '../models/exclusive.ts';
import { foldBatchNormLayers } from '../models/export.ts';
import { inputLayer, type ModelSpec, type Weights } from '../models/spec.ts';
import { signedStep } from './adversarial.ts';
import { bakedPass } from './baked-pass.ts';
import { exclusiveLogitsBackward } from './exclusive-grad.ts';
import { backward } from './step-graph.ts';

export const ATTACK_IO = { x: 'x', sign: 'sign', offset: 'offset', weight: 'weight', logits: 'logits', loss: 'loss', inputGrad: 'input_grad' } as const;
export const LINF_STEP_IO = { lo: 'lo', hi: 'hi', eta: 'eta', next: 'next' } as const;

/** The margin loss per image [B] and its gradient with respect to the logits [B,T]. */
export function marginLoss(g: Graph, logits: Value, sign: Value, offset: Value, weight: Value): { loss: Value; dlogits: Value } {
  const violation = sub(g, offset, mul(g, sign, logits));
  const loss = reduceSum(g, mul(g, weight, relu(g, violation)), [1], false);
  const active = cast(g, greater(g, violation, g.constant([0], [])), 'float32');
  const dlogits = neg(g, mul(g, mul(g, weight, sign), active));
  return { loss, dlogits };
}

/**
 * The model's normalisation as data, per tensor channel k: value = x[…, order[k]]·scale[k] + shift[k] (the owner
 * of the numbers is src/robust/pixel-space.ts).
 */
export interface PixelMap {
  readonly order: Triple;
  readonly scale: Triple;
  readonly shift: Triple;
}

export type Triple = readonly [number, number, number];

/** Channel k of the NHWC `v` taken from channel order[k]: a concatenation of slices, skipped for the identity. */
function permuteChannels(g: Graph, v: Value, order: readonly number[]): Value {
  if (order.every((c, k) => c === k)) return v;
  return concat(g, order.map((c) => slice(g, v, [c], [c + 1], [3])), 3);
}

/** v·factors + offsets over the last axis, skipping what is the identity. */
function affine(g: Graph, v: Value, factors: readonly number[], offsets?: readonly number[]): Value {
  const scaled = factors.every((f) => f === 1) ? v : mul(g, v, g.constant(factors, [factors.length]));
  return !offsets || offsets.every((b) => b === 0) ? scaled : add(g, scaled, g.constant(offsets, [offsets.length]));
}

/**
 * `nchwcBlock`: ORT's blocked conv kernels (src/train/nchwc-probe.ts; 0: standard Conv), which then hold the maps
 * from op to op, forward and backward. BatchNormalization is folded into its conv first, as model.onnx's is.
 * `linfStep`: the step too (see above). NOTE: ORT runs every node whatever is fetched, so a caller that wants the
 * gradient alone (EOT, BPDA: they combine several before stepping) takes the graph without it.
 */
export function buildInputGradientGraph(model: ModelSpec, trained: Weights, o: { batch: number | string; nchwcBlock?: number; pixels?: PixelMap; linfStep?: boolean }): { model: Uint8Array } {
  const { spec, weights } = foldBatchNormLayers(model, trained);
  const g = new Graph(`${spec.name}_attack`);
  // NOTE: with `pixels` the map to and from the network's tensor runs here, two cheap sweeps, where in JavaScript
  // it cost more than half a forward pass per PGD step (bench/attack-step.ts)
  const px = o.pixels;
  const x = g.input(ATTACK_IO.x, 'float32', [o.batch, ...inputLayer(spec).shape]);
  const input = px ? affine(g, permuteChannels(g, x, px.order), px.scale, px.shift) : x;
  const pass = bakedPass(g, spec, weights, o.batch, o.nchwcBlock, true, input);
  // the logits whose sigmoid model.onnx answers: a group of exclusive tags shifts its members' (models/exclusive.ts)
  const raw = pass.values.get(pass.logitsLayer)!, groups = groupsOf(g, raw, exclusiveGroupsOf(spec));
  const logits = shiftedLogits(g, raw, groups);
  const [sign, offset, weight] = [ATTACK_IO.sign, ATTACK_IO.offset, ATTACK_IO.weight].map((name) => g.input(name, 'float32', logits.shape)) as [Value, Value, Value];
  const { loss, dlogits } = marginLoss(g, logits, sign, offset, weight);
  const { inputGrad } = backward(spec, pass, exclusiveLogitsBackward(g, raw, groups, dlogits), { input: true });
  g.output(logits, ATTACK_IO.logits);
  g.output(loss, ATTACK_IO.loss);
  const grad = px ? permuteChannels(g, affine(g, inputGrad!, px.scale), inverse(px.order)) : inputGrad!;
  g.output(grad, ATTACK_IO.inputGrad);
  if (o.linfStep) {
    const [lo, hi] = [LINF_STEP_IO.lo, LINF_STEP_IO.hi].map((name) => g.input(name, 'float32', x.shape)) as [Value, Value];
    const eta = g.input(LINF_STEP_IO.eta, 'float32', [o.batch, 1, 1, 1]);
    g.output(signedStep(g, x, grad, neg(g, eta), lo, hi), LINF_STEP_IO.next);
  }
  return { model: g.toModel(`${spec.name} attack loss and input gradient`, { prune: true }) };
}

/** The permutation that undoes `order`. */
function inverse(order: readonly number[]): number[] {
  const out: number[] = [];
  order.forEach((c, k) => (out[c] = k));
  return out;
}
