/**
 * The attack graph (step 13): the eval-mode forward on baked weights, a per-tag margin loss on the logits, and
 * the backward sweep down to the input image only. Adversarial training reuses `marginLoss` and the same
 * `backward(…, { input: true })` inside its step graph.
 *
 * Per tag t of image b the loss is w·relu(offset − sign·z): sign +1 wants the logit z above a level, −1 below it;
 * `offset` = sign·level + margin, so the term is zero once z is past the level by the margin. The attacker
 * minimises Σ_t of it. Inputs: `x` [B,H,W,3] (NHWC, the model's input tensor, after normalisation), `sign`,
 * `offset`, `weight` [B,T]. Outputs: `logits` [B,T], `loss` [B], `input_grad` (∂loss/∂x, shaped as `x`).
 */
import { Graph, mul, relu, sub, type Value } from '../graph/index.ts';
import { cast, greater, neg, reduceSum } from '../graph/math.ts';
import { foldBatchNormLayers } from '../models/export.ts';
import type { ModelSpec, Weights } from '../models/spec.ts';
import { bakedPass } from './baked-pass.ts';
import { backward } from './step-graph.ts';

export const ATTACK_IO = { x: 'x', sign: 'sign', offset: 'offset', weight: 'weight', logits: 'logits', loss: 'loss', inputGrad: 'input_grad' } as const;

/** The margin loss per image [B] and its gradient with respect to the logits [B,T]. */
export function marginLoss(g: Graph, logits: Value, sign: Value, offset: Value, weight: Value): { loss: Value; dlogits: Value } {
  const violation = sub(g, offset, mul(g, sign, logits));
  const loss = reduceSum(g, mul(g, weight, relu(g, violation)), [1], false);
  const active = cast(g, greater(g, violation, g.constant([0], [])), 'float32');
  const dlogits = neg(g, mul(g, mul(g, weight, sign), active));
  return { loss, dlogits };
}

/**
 * `nchwcBlock`: ORT's blocked conv kernels (src/train/nchwc-probe.ts; 0: standard Conv), which then hold the maps
 * from op to op, forward and backward. BatchNormalization is folded into its conv first, as model.onnx's is.
 */
export function buildInputGradientGraph(model: ModelSpec, trained: Weights, o: { batch: number | string; nchwcBlock?: number }): { model: Uint8Array } {
  const { spec, weights } = foldBatchNormLayers(model, trained);
  const g = new Graph(`${spec.name}_attack`);
  const pass = bakedPass(g, spec, weights, o.batch, o.nchwcBlock, true);
  const logits = pass.values.get(pass.logitsLayer)!;
  const [sign, offset, weight] = [ATTACK_IO.sign, ATTACK_IO.offset, ATTACK_IO.weight].map((name) => g.input(name, 'float32', logits.shape)) as [Value, Value, Value];
  const { loss, dlogits } = marginLoss(g, logits, sign, offset, weight);
  const { inputGrad } = backward(spec, pass, dlogits, { input: true });
  g.output(logits, ATTACK_IO.logits);
  g.output(loss, ATTACK_IO.loss);
  g.output(inputGrad!, ATTACK_IO.inputGrad);
  return { model: g.toModel(`${spec.name} attack loss and input gradient`, { prune: true }) };
}
