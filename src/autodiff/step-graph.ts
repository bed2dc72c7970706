/**
 * One training step as one ONNX graph: forward (batch statistics), loss, backward by the per-layer rules,
 * and the optimizer update. Weights, optimizer slots and BN moving statistics go in as inputs and come back
 * as outputs, so the caller swaps them into the next step's feeds without copying. `forward` and `backward`
 * are also the machinery of the explanation graphs (explain-graph.ts): eval mode, baked weights, gradients
 * with respect to the input or a layer only. With `adversarial`, the attack that replaces part of the batch by
 * its adversarial version runs first, inside the same graph (adversarial.ts).
 */
import { InvariantError, TagbooruError } from '../errors.ts';
import { Graph, add, mul, numel, reshape, type Value } from '../graph/index.ts';
import { inferShapes, variables, type VariableSpec } from '../models/shapes.ts';
import { exclusiveGroupsOf, exclusiveLogits } from '../models/exclusive.ts';
import { inputLayer, layerInputs, type Layer, type ModelSpec } from '../models/spec.ts';
import { attackedCount, perturbBatch, type AdversarialOptions } from './adversarial.ts';
import { BlockedLayout } from './blocked-layout.ts';
import { buildLoss, withDistillation, type DistillationOptions, type LossName, type LossOptions } from './losses.ts';
import { buildGroupedUpdate, buildUpdate, optimizerSlots, type OptimizerConfig } from './optimizers.ts';
import { poolBeforePointwiseHead } from './pooled-head.ts';
import { GRAD_RULES } from './rules.ts';
import type { BackwardResult, ForwardResult, GradRule, Mode, RuleContext } from './types.ts';

export const FEED = {
  x: 'x',
  labels: 'labels',
  /** [N, T] float: 1 where a label is known, 0 where it is unknown (see losses.ts). */
  mask: 'mask',
  /** [N, T] the teacher's logits, with distillation (see withDistillation in losses.ts). */
  teacher: 'teacher_logits',
  /** [N, T] float: 1 where the teacher knows the tag, 0 where it does not. */
  teacherMask: 'teacher_mask',
  lr: 'lr',
  step: 'step',
  /** [⌈ratio·N⌉, H, W, C] uniform in [−1, 1]: the adversarial attack's random start (adversarial.ts). */
  noise: 'noise',
  /** [⌈ratio·N⌉, T] float, with the `one-tag` adversarial goal: the one label each attacked sample's attack maximises the loss of. */
  attackMask: 'attack_mask',
  weight: (key: string) => `w:${key}`,
  slot: (key: string, slot: string) => `s:${key}:${slot}`,
} as const;

export const FETCH = {
  loss: 'loss',
  probs: 'probs',
  logits: 'logits',
  newWeight: (key: string) => `new:${key}`,
  newSlot: (key: string, slot: string) => `new:${key}:${slot}`,
  grad: (key: string) => `grad:${key}`,
  inputGrad: 'grad:input',
} as const;

/** Trainable tensors up to this many elements share one optimizer update (see buildGroupedUpdate). */
const GROUPED_UPDATE_MAX = 16384;

export interface StepGraphOptions {
  readonly batch: number;
  readonly loss: LossName;
  readonly lossOptions?: LossOptions;
  /** Mix the loss with a teacher's soft targets, fed as FEED.teacher and FEED.teacherMask. */
  readonly distillation?: DistillationOptions;
  readonly optimizer: OptimizerConfig;
  /** `update`: new weights and slots; `gradients`: raw gradients (for checks, saliency, attacks). */
  readonly outputs?: 'update' | 'gradients';
  /** Also differentiate with respect to the input image (NHWC). */
  readonly inputGradient?: boolean;
  /** Largest im2col buffer one weight gradient may hold, in bytes (default 64 MiB). */
  readonly unfoldBudget?: number;
  /** ORT's blocked conv kernels for spatial convs and their stride-1 input gradients, in this channel block (nchwcBlockSize); default 0: off. */
  readonly nchwcBlock?: number;
  /** Train on adversarial versions of (part of) each batch, attacked inside this graph (adversarial.ts). */
  readonly adversarial?: AdversarialOptions;
}

export interface StepGraph {
  readonly model: Uint8Array;
  /** The shape of `labels` and `mask` after the batch: the logits' ([tags] for a tagger, [C, H, W] for an image output). */
  readonly labelShape: readonly number[];
  readonly variables: readonly VariableSpec[];
  readonly slots: readonly string[];
  readonly nodes: number;
  /** The shape of the `noise` input, when the graph has one (an adversarial step attacking at least one sample). */
  readonly noise: readonly number[] | null;
  /** The shape of the `attack_mask` input, when the graph has one (the `one-tag` adversarial goal). */
  readonly attackMask: readonly number[] | null;
}

export interface Pass {
  readonly values: Map<string, Value>;
  readonly forwards: Map<string, ForwardResult>;
  readonly states: Map<string, Value>;
  readonly ctx: RuleContext;
  /** The layer whose output are the logits (the input of the final sigmoid). */
  readonly logitsLayer: string;
}

export interface PassOptions {
  readonly mode: Mode;
  readonly batch: number | string;
  /** The graph value of a model variable: a graph input (training, validation) or a baked initializer. */
  readonly param: (key: string) => Value;
  /** Whether the backward emits parameter gradients (see RuleContext.paramGrads). */
  readonly paramGrads: boolean;
  readonly unfoldBudget?: number;
  readonly nchwcBlock?: number;
  /** The image (NHWC) to run on; omitted, the graph input `x`. */
  readonly input?: Value;
  /** Keep maps in the `nchwcBlock` layout between ops (see blocked-layout.ts): for baked weights only. */
  readonly blockedLayout?: boolean;
}

function rule(layer: Layer): GradRule<Layer['kind']> {
  return GRAD_RULES[layer.kind] as GradRule<Layer['kind']>;
}

/** Declares every model variable as a graph input, in `variables()` order. */
function variableInputs(g: Graph, spec: ModelSpec): (key: string) => Value {
  const params = new Map<string, Value>();
  for (const v of variables(spec)) params.set(v.key, g.input(FEED.weight(v.key), 'float32', v.shape));
  return (key) => {
    const p = params.get(key);
    if (!p) throw new InvariantError(`model ${spec.name} has no variable ${key}`);
    return p;
  };
}

/** The layer whose output are the logits: the input of the final sigmoid. */
export function logitsLayerOf(spec: ModelSpec): string {
  const out = spec.layers.find((l) => l.name === spec.output)!;
  return out.kind === 'sigmoid' ? out.input : out.name;
}

/** Runs the forward pass up to the logits, on `o.input` or on the image input `x` (NHWC) it declares. */
export function forward(g: Graph, spec: ModelSpec, o: PassOptions): Pass {
  const states = new Map<string, Value>();
  const ctx: RuleContext = {
    g,
    mode: o.mode,
    paramGrads: o.paramGrads,
    unfoldBudget: o.unfoldBudget ?? 0,
    nchwcBlock: o.nchwcBlock ?? 0,
    layout: o.blockedLayout && o.nchwcBlock ? new BlockedLayout(g, o.nchwcBlock) : null,
    param: o.param,
    setState: (key, value) => void states.set(key, value),
  };
  const logitsLayer = logitsLayerOf(spec);
  const input = inputLayer(spec);
  const x = o.input ?? g.input(FEED.x, 'float32', [o.batch, ...input.shape]);
  const values = new Map<string, Value>(), forwards = new Map<string, ForwardResult>();
  for (const layer of spec.layers) {
    const ins = layer.kind === 'input' ? [x] : layerInputs(layer).map((n) => nchwUnlessAware(ctx, layer, values.get(n)!));
    const f = rule(layer).forward(ctx, layer, ins);
    values.set(layer.name, f.y);
    forwards.set(layer.name, f);
    if (layer.name === logitsLayer) break;
  }
  return { values, forwards, states, ctx, logitsLayer };
}

/** A gradient that may still owe a per-channel factor (see BackwardResult.dxScale). */
interface Scaled {
  readonly value: Value;
  readonly scale: Value | null;
}

function applyScale(ctx: RuleContext, { value, scale }: Scaled): Value {
  if (!scale) return value;
  const c = Number(scale.shape[0]);
  return mul(ctx.g, ctx.layout?.nchw(value) ?? value, reshape(ctx.g, scale, [1, c, 1, 1], [1, c, 1, 1]));
}

/** A value as `layer`'s rule may see it: NCHW unless the rule handles blocked maps (see BlockedLayout). */
function nchwUnlessAware(ctx: RuleContext, layer: Layer, v: Value): Value {
  return ctx.layout && !rule(layer).layoutAware ? ctx.layout.nchw(v) : v;
}

/** Fan-in gradients summed pairwise, in one layout. */
function sumParts(ctx: RuleContext, gys: readonly Value[]): Value {
  // pairwise Add, not Sum: ORT fuses Conv + Add into one FusedConv that accumulates into the other operand
  if (!ctx.layout) return gys.reduce((a, b) => add(ctx.g, a, b));
  const layout = ctx.layout;
  return gys.reduce((a, b) => layout.add(a, b));
}

/** What the backward differentiates with respect to, besides the parameters when `ctx.paramGrads`. */
export interface Wrt {
  /** The input image (NHWC). */
  readonly input?: boolean;
  /** Layer outputs (NCHW, as the forward holds them). */
  readonly layers?: readonly string[];
}

export interface Gradients {
  /** Per trainable variable key, when `ctx.paramGrads`. */
  readonly grads: Map<string, Value>;
  readonly inputGrad: Value | null;
  /** Per layer named in `Wrt.layers` that the logits depend on. */
  readonly layerGrads: Map<string, Value>;
}

/** Runs the rules from the logits, given dL/dlogits, back to whatever `wrt` and the parameters need. */
export function backward(spec: ModelSpec, pass: Pass, dlogits: Value, wrt: Wrt): Gradients {
  const { ctx, values, forwards } = pass;
  const layers = spec.layers.slice(0, spec.layers.findIndex((l) => l.name === pass.logitsLayer) + 1);
  const wanted = new Set(wrt.layers ?? []);
  // a layer's output needs a gradient when a parameter or a wanted value lies upstream of it (or is it)
  const requires = new Map<string, boolean>();
  for (const l of layers) {
    const params = ctx.paramGrads && (l.kind === 'conv' || l.kind === 'bn' || l.kind === 'dense');
    const own = params || wanted.has(l.name) || (l.kind === 'input' && (wrt.input ?? false));
    requires.set(l.name, own || layerInputs(l).some((n) => requires.get(n)));
  }
  const pending = new Map<string, Scaled[]>([[pass.logitsLayer, [{ value: dlogits, scale: null }]]]);
  const grads = new Map<string, Value>(), layerGrads = new Map<string, Value>();
  let inputGrad: Value | null = null;
  for (const layer of [...layers].reverse()) {
    const parts = pending.get(layer.name);
    if (!parts) continue;
    const r0 = rule(layer);
    // a lone scaled gradient goes to a rule that folds the scale in; anything else is materialised
    const folded = parts.length === 1 && parts[0]!.scale && r0.takesScaledGradient && !wanted.has(layer.name) ? parts[0]! : null;
    const gys = folded ? [folded.value] : parts.map((p) => applyScale(ctx, p));
    const gy = nchwUnlessAware(ctx, layer, sumParts(ctx, gys));
    if (wanted.has(layer.name)) layerGrads.set(layer.name, ctx.layout?.nchw(gy) ?? gy);
    const names = layerInputs(layer);
    const ins = layer.kind === 'input' ? [] : names.map((n) => nchwUnlessAware(ctx, layer, values.get(n)!));
    const needDx = names.map((n) => requires.get(n) ?? false);
    if (layer.kind === 'input') {
      if (wrt.input) inputGrad = rule(layer).backward(ctx, layer, ins, forwards.get(layer.name)!, gy, []).dx[0]!;
      continue;
    }
    if (!ctx.paramGrads && !needDx.some(Boolean)) continue;
    const r: BackwardResult = r0.backward(ctx, layer, ins, forwards.get(layer.name)!, gy, needDx, folded?.scale ?? undefined);
    for (const [k, v] of Object.entries(r.dparams)) grads.set(k, v);
    names.forEach((n, i) => {
      const d = r.dx[i];
      if (d && needDx[i]) pending.set(n, [...(pending.get(n) ?? []), { value: d, scale: r.dxScale?.[i] ?? null }]);
    });
  }
  return { grads, inputGrad, layerGrads };
}

export function buildTrainingStep(model: ModelSpec, options: StepGraphOptions): StepGraph {
  const g = new Graph(`${model.name}_train_step`);
  const { batch, outputs = 'update', inputGradient = false } = options;
  const spec = poolBeforePointwiseHead(model);
  const base = { mode: 'train', batch, param: variableInputs(g, model), unfoldBudget: options.unfoldBudget ?? 64 * 2 ** 20, nchwcBlock: options.nchwcBlock } as const;
  const x = g.input(FEED.x, 'float32', [batch, ...inputLayer(spec).shape]);
  // the attack needs the labels before the forward pass (a tagger's: [tags]); otherwise they take the output's
  // shape in the graph's own layout (a de-noiser's image output is [C, H, W])
  const declare = (shape: readonly (number | string)[]) => ({ labels: g.input(FEED.labels, 'float32', shape), mask: g.input(FEED.mask, 'float32', shape) });
  const early = options.adversarial ? declare([batch, ...inferShapes(model).get(logitsLayerOf(model))!]) : null;
  const attack = early ? adversarialBatch(g, spec, base, { x, ...early }, options) : null;
  const pass = forward(g, spec, { ...base, paramGrads: true, input: attack?.x ?? x });
  const logits = pass.values.get(pass.logitsLayer)!;
  const { labels, mask } = early ?? declare(logits.shape);
  const labelShape = labels.shape;
  const groups = exclusiveGroupsOf(model);
  // NOTE: the soft term is per tag (sigmoid against sigmoid); a group's would be a softmax against the teacher's
  if (options.distillation && groups.length) throw new TagbooruError('E_USAGE', `model ${model.name}: distillation does not yet train exclusive tag groups; drop "exclusive_tags" or "teacher"`);
  const hard = buildLoss(g, options.loss, logits, labels, mask, options.lossOptions, groups);
  const { loss, dlogits, probs } = options.distillation
    ? withDistillation(g, hard, logits, g.input(FEED.teacher, 'float32', logits.shape), g.input(FEED.teacherMask, 'float32', logits.shape), options.distillation)
    : hard;
  const { grads, inputGrad } = backward(spec, pass, dlogits, { input: inputGradient });
  g.output(loss, FETCH.loss);
  g.output(probs, FETCH.probs);
  const vars = variables(model);
  const slots = optimizerSlots(options.optimizer);
  for (const [key, value] of pass.states) g.output(value, FETCH.newWeight(key));
  if (outputs === 'gradients') {
    for (const v of vars) if (v.trainable) g.output(grads.get(v.key)!, FETCH.grad(v.key));
  } else {
    const lr = g.input(FEED.lr, 'float32', []);
    const step = g.input(FEED.step, 'float32', []);
    const members = vars.filter((v) => v.trainable).map((v) => {
      const grad = grads.get(v.key);
      if (!grad) throw new TagbooruError('E_MODEL', `model ${spec.name}: ${v.key} does not lead to the output, so training cannot update it`);
      const slotValues = Object.fromEntries(slots.map((s) => [s, g.input(FEED.slot(v.key, s), 'float32', v.shape)]));
      return { v, w: pass.ctx.param(v.key), grad, slots: slotValues, decay: v.key.endsWith('/kernel') };
    });
    const emit = (m: (typeof members)[number], next: { w: Value; slots: Record<string, Value> }) => {
      g.output(next.w, FETCH.newWeight(m.v.key));
      for (const s of slots) g.output(next.slots[s]!, FETCH.newSlot(m.v.key, s));
    };
    // small tensors (BN vectors, small kernels) share one update per decay class
    const grouped = (m: (typeof members)[number]) => numel(m.v.shape) <= GROUPED_UPDATE_MAX;
    for (const decay of [false, true]) {
      const group = members.filter((m) => grouped(m) && m.decay === decay);
      if (group.length < 2) continue;
      buildGroupedUpdate(g, options.optimizer, group, { lr, step, decay }).forEach((next, i) => emit(group[i]!, next));
    }
    for (const m of members) {
      if (grouped(m) && members.filter((o) => grouped(o) && o.decay === m.decay).length >= 2) continue;
      emit(m, buildUpdate(g, options.optimizer, { w: m.w, grad: m.grad, slots: m.slots, lr, step, decay: m.decay }));
    }
  }
  if (inputGradient && inputGrad) g.output(inputGrad, FETCH.inputGrad);
  for (const [name, value] of Object.entries(attack?.debug ?? {})) g.output(value, name);
  return { model: g.toModel(`${spec.name} training step`), labelShape: labelShape.slice(1).map(Number), variables: vars, slots, nodes: g.nodeCount, noise: attack?.noise ?? null, attackMask: attack?.attackMask ?? null };
}

/**
 * The batch with its first ⌈ratio·N⌉ samples replaced by their adversarial versions, or null when the ratio
 * attacks none. Each attack pass is a training-mode forward (batch statistics of the attacked samples, as the
 * step's own forward uses the batch's) whose moving-statistics updates are dropped: only the step's forward
 * moves them. No parameter gradients: the backward stops at the input.
 */
function adversarialBatch(g: Graph, spec: ModelSpec, base: Omit<PassOptions, 'paramGrads' | 'batch'>, batch: { x: Value; labels: Value; mask: Value }, options: StepGraphOptions): { x: Value; noise: number[]; attackMask: number[] | null; debug: Readonly<Record<string, Value>> } | null {
  const o = options.adversarial!;
  const n = attackedCount(options.batch, o.ratio);
  if (n === 0) return null;
  const noiseShape = [n, ...inputLayer(spec).shape];
  const noise = g.input(FEED.noise, 'float32', noiseShape);
  const inputGradient = (input: Value, labels: Value, mask: Value): Value => {
    const pass = forward(g, spec, { ...base, batch: n, paramGrads: false, input });
    const { dlogits } = buildLoss(g, options.loss, pass.values.get(pass.logitsLayer)!, labels, mask, options.lossOptions, exclusiveGroupsOf(spec));
    return backward(spec, pass, dlogits, { input: true }).inputGrad!;
  };
  const maskShape = o.goal === 'one-tag' ? [n, ...batch.labels.shape.slice(1).map(Number)] : null;
  const attackMask = maskShape ? g.input(FEED.attackMask, 'float32', maskShape) : undefined;
  const { x, debug } = perturbBatch(g, batch.x, batch.labels, batch.mask, noise, o, inputGradient, attackMask);
  return { x, noise: noiseShape, attackMask: maskShape, debug };
}

/** Inference with weights as inputs (BN with moving statistics): validation during training. */
export function buildEvalGraph(model: ModelSpec, batch: number | string, loss?: { name: LossName; options?: LossOptions }, nchwcBlock = 0): Uint8Array {
  const g = new Graph(`${model.name}_eval`);
  const spec = poolBeforePointwiseHead(model);
  const pass = forward(g, spec, { mode: 'eval', batch, param: variableInputs(g, model), paramGrads: false, nchwcBlock });
  const logits = pass.values.get(pass.logitsLayer)!;
  if (loss) {
    const labels = g.input(FEED.labels, 'float32', logits.shape);
    const out = buildLoss(g, loss.name, logits, labels, g.input(FEED.mask, 'float32', logits.shape), loss.options, exclusiveGroupsOf(model));
    g.output(out.loss, FETCH.loss);
    g.output(out.probs, FETCH.probs);
  } else {
    g.output(g.op('Sigmoid', [exclusiveLogits(g, logits, exclusiveGroupsOf(model))], {}, logits.shape), FETCH.probs);
  }
  return g.toModel(`${spec.name} evaluation`);
}
