/**
 * One training step as one ONNX graph: forward (batch statistics), loss, backward by the per-layer rules,
 * and the optimizer update. Weights, optimizer slots and BN moving statistics go in as inputs and come back
 * as outputs, so the caller swaps them into the next step's feeds without copying.
 */
import { Graph, add, mul, numel, reshape, type Value } from '../graph/index.ts';
import { inferShapes, variables, type VariableSpec } from '../models/shapes.ts';
import { inputLayer, layerInputs, type Layer, type ModelSpec } from '../models/spec.ts';
import { buildLoss, type LossName, type LossOptions } from './losses.ts';
import { buildGroupedUpdate, buildUpdate, optimizerSlots, type OptimizerConfig } from './optimizers.ts';
import { GRAD_RULES } from './rules.ts';
import type { BackwardResult, ForwardResult, GradRule, Mode, RuleContext } from './types.ts';

export const FEED = {
  x: 'x',
  labels: 'labels',
  lr: 'lr',
  step: 'step',
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
  readonly optimizer: OptimizerConfig;
  /** `update`: new weights and slots; `gradients`: raw gradients (for checks, saliency, attacks). */
  readonly outputs?: 'update' | 'gradients';
  /** Also differentiate with respect to the input image (NHWC). */
  readonly inputGradient?: boolean;
  /** Largest im2col buffer one weight gradient may hold, in bytes (default 64 MiB). */
  readonly unfoldBudget?: number;
}

export interface StepGraph {
  readonly model: Uint8Array;
  readonly variables: readonly VariableSpec[];
  readonly slots: readonly string[];
  readonly nodes: number;
}

interface Pass {
  readonly values: Map<string, Value>;
  readonly forwards: Map<string, ForwardResult>;
  readonly states: Map<string, Value>;
  readonly ctx: RuleContext;
  /** The layer whose output are the logits (the input of the final sigmoid). */
  readonly logitsLayer: string;
}

function rule(layer: Layer): GradRule<Layer['kind']> {
  return GRAD_RULES[layer.kind] as GradRule<Layer['kind']>;
}

/** Declares every model variable as an input and runs the forward pass up to the logits. */
function forward(g: Graph, spec: ModelSpec, mode: Mode, batch: number | string, unfoldBudget: number): Pass {
  const shapes = inferShapes(spec);
  const params = new Map<string, Value>();
  for (const v of variables(spec, shapes)) params.set(v.key, g.input(FEED.weight(v.key), 'float32', v.shape));
  const states = new Map<string, Value>();
  const ctx: RuleContext = {
    g,
    mode,
    unfoldBudget,
    param: (key) => {
      const p = params.get(key);
      if (!p) throw new Error(`model ${spec.name} has no variable ${key}`);
      return p;
    },
    setState: (key, value) => void states.set(key, value),
  };
  const out = spec.layers.find((l) => l.name === spec.output)!;
  const logitsLayer = out.kind === 'sigmoid' ? out.input : out.name;
  const input = inputLayer(spec);
  const x = g.input(FEED.x, 'float32', [batch, ...input.shape]);
  const values = new Map<string, Value>(), forwards = new Map<string, ForwardResult>();
  for (const layer of spec.layers) {
    const ins = layer.kind === 'input' ? [x] : layerInputs(layer).map((n) => values.get(n)!);
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
  return mul(ctx.g, value, reshape(ctx.g, scale, [1, c, 1, 1], [1, c, 1, 1]));
}

function backward(spec: ModelSpec, pass: Pass, dlogits: Value, inputGradient: boolean): { grads: Map<string, Value>; inputGrad: Value | null } {
  const { ctx, values, forwards } = pass;
  const layers = spec.layers.slice(0, spec.layers.findIndex((l) => l.name === pass.logitsLayer) + 1);
  // a layer's output needs a gradient when a parameter or the (wanted) input lies upstream of it
  const requires = new Map<string, boolean>();
  for (const l of layers) {
    const own = l.kind === 'conv' || l.kind === 'bn' || l.kind === 'dense' || (l.kind === 'input' && inputGradient);
    requires.set(l.name, own || layerInputs(l).some((n) => requires.get(n)));
  }
  const pending = new Map<string, Scaled[]>([[pass.logitsLayer, [{ value: dlogits, scale: null }]]]);
  const grads = new Map<string, Value>();
  let inputGrad: Value | null = null;
  for (const layer of [...layers].reverse()) {
    const parts = pending.get(layer.name);
    if (!parts) continue;
    const r0 = rule(layer);
    // a lone scaled gradient goes to a rule that folds the scale in; anything else is materialised
    const folded = parts.length === 1 && parts[0]!.scale && r0.takesScaledGradient ? parts[0]! : null;
    const gys = folded ? [folded.value] : parts.map((p) => applyScale(ctx, p));
    // pairwise Add, not Sum: ORT fuses Conv + Add into one FusedConv that accumulates into the other operand
    const gy = gys.reduce((a, b) => add(ctx.g, a, b));
    const names = layerInputs(layer);
    const ins = layer.kind === 'input' ? [] : names.map((n) => values.get(n)!);
    const needDx = names.map((n) => requires.get(n) ?? false);
    if (layer.kind === 'input') {
      inputGrad = rule(layer).backward(ctx, layer, ins, forwards.get(layer.name)!, gy, []).dx[0]!;
      continue;
    }
    const r: BackwardResult = r0.backward(ctx, layer, ins, forwards.get(layer.name)!, gy, needDx, folded?.scale ?? undefined);
    for (const [k, v] of Object.entries(r.dparams)) grads.set(k, v);
    names.forEach((n, i) => {
      const d = r.dx[i];
      if (d && needDx[i]) pending.set(n, [...(pending.get(n) ?? []), { value: d, scale: r.dxScale?.[i] ?? null }]);
    });
  }
  return { grads, inputGrad };
}

export function buildTrainingStep(spec: ModelSpec, options: StepGraphOptions): StepGraph {
  const g = new Graph(`${spec.name}_train_step`);
  const { batch, outputs = 'update', inputGradient = false } = options;
  const pass = forward(g, spec, 'train', batch, options.unfoldBudget ?? 64 * 2 ** 20);
  const logits = pass.values.get(pass.logitsLayer)!;
  const labels = g.input(FEED.labels, 'float32', logits.shape);
  const { loss, dlogits, probs } = buildLoss(g, options.loss, logits, labels, options.lossOptions);
  const { grads, inputGrad } = backward(spec, pass, dlogits, inputGradient);
  g.output(loss, FETCH.loss);
  g.output(probs, FETCH.probs);
  const vars = variables(spec);
  const slots = optimizerSlots(options.optimizer);
  for (const [key, value] of pass.states) g.output(value, FETCH.newWeight(key));
  if (outputs === 'gradients') {
    for (const v of vars) if (v.trainable) g.output(grads.get(v.key)!, FETCH.grad(v.key));
  } else {
    const lr = g.input(FEED.lr, 'float32', []);
    const step = g.input(FEED.step, 'float32', []);
    const members = vars.filter((v) => v.trainable).map((v) => {
      const grad = grads.get(v.key);
      if (!grad) throw new Error(`no gradient reached ${v.key}`);
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
  return { model: g.toModel(`${spec.name} training step`), variables: vars, slots, nodes: g.nodeCount };
}

/** Inference with weights as inputs (BN with moving statistics): validation during training. */
export function buildEvalGraph(spec: ModelSpec, batch: number | string, loss?: { name: LossName; options?: LossOptions }): Uint8Array {
  const g = new Graph(`${spec.name}_eval`);
  const pass = forward(g, spec, 'eval', batch, 0);
  const logits = pass.values.get(pass.logitsLayer)!;
  if (loss) {
    const labels = g.input(FEED.labels, 'float32', logits.shape);
    const out = buildLoss(g, loss.name, logits, labels, loss.options);
    g.output(out.loss, FETCH.loss);
    g.output(out.probs, FETCH.probs);
  } else {
    g.output(g.op('Sigmoid', [logits], {}, logits.shape), FETCH.probs);
  }
  return g.toModel(`${spec.name} evaluation`);
}
