/**
 * Optimizer updates as graph nodes, with Keras' formulas (DeepDanbooru trained with tf.keras).
 * The learning rate and step counter are graph inputs, so schedules cost nothing.
 */
import { InvariantError } from '../errors.ts';
import { add, mul, numel, reshape, sub, type Graph, type Value } from '../graph/index.ts';
import { concat, div, pow, sqrt } from '../graph/math.ts';

export type OptimizerName = 'sgd' | 'adam' | 'rmsprop';
export const OPTIMIZERS: readonly OptimizerName[] = ['sgd', 'adam', 'rmsprop'];

export interface OptimizerConfig {
  readonly name: OptimizerName;
  /** SGD: 0.9 with Nesterov is DeepDanbooru's `sgd`. */
  readonly momentum?: number;
  readonly nesterov?: boolean;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly rho?: number;
  readonly epsilon?: number;
  /** Decoupled weight decay on kernels: w ← w − lr·wd·w. */
  readonly weightDecay?: number;
}

/** Slot variables per parameter, in a fixed order. */
export function optimizerSlots(config: OptimizerConfig): readonly string[] {
  switch (config.name) {
    case 'sgd': return (config.momentum ?? 0.9) > 0 ? ['momentum'] : [];
    case 'adam': return ['m', 'v'];
    case 'rmsprop': return ['rms'];
  }
}

export interface UpdateInputs {
  readonly w: Value;
  readonly grad: Value;
  readonly slots: Readonly<Record<string, Value>>;
  readonly lr: Value;
  /** 1-based step number (Adam's bias correction). */
  readonly step: Value;
  readonly decay: boolean;
}

export function buildUpdate(g: Graph, config: OptimizerConfig, inputs: UpdateInputs): { w: Value; slots: Record<string, Value> } {
  // NOTE: the update runs on flat views: ORT multiplies a [Co,Ci,1,1] kernel by a scalar one element at a
  // time (trailing 1-dims defeat its broadcast fast path), 25× slower than the same data as [n]
  const shape = inputs.w.shape.map(Number), n = numel(shape);
  const flat = (v: Value) => (v.shape.length === 1 ? v : reshape(g, v, [n], [n]));
  const back = (v: Value) => (shape.length === 1 ? v : reshape(g, v, shape, shape));
  const next = updateFlat(g, config, { ...inputs, w: flat(inputs.w), grad: flat(inputs.grad), slots: Object.fromEntries(Object.entries(inputs.slots).map(([k, v]) => [k, flat(v)])) });
  return { w: back(next.w), slots: Object.fromEntries(Object.entries(next.slots).map(([k, v]) => [k, back(v)])) };
}

function updateFlat(g: Graph, config: OptimizerConfig, { w, grad, slots, lr, step, decay }: UpdateInputs): { w: Value; slots: Record<string, Value> } {
  // only Adam and RMSprop read ε: an unused initializer makes ORT warn on every session it loads
  const eps = () => g.scalar(config.epsilon ?? 1e-7);
  let next: Value;
  const out: Record<string, Value> = {};
  switch (config.name) {
    case 'sgd': {
      const mu = config.momentum ?? 0.9;
      if (mu === 0) {
        next = sub(g, w, mul(g, lr, grad));
        break;
      }
      // Keras: v ← μ·v − lr·g; w ← w + v, or with Nesterov w ← w + μ·v − lr·g
      const v = sub(g, mul(g, slots.momentum!, g.scalar(mu)), mul(g, lr, grad));
      out.momentum = v;
      next = (config.nesterov ?? true) ? add(g, w, sub(g, mul(g, v, g.scalar(mu)), mul(g, lr, grad))) : add(g, w, v);
      break;
    }
    case 'adam': {
      const b1 = config.beta1 ?? 0.9, b2 = config.beta2 ?? 0.999;
      const m = add(g, mul(g, slots.m!, g.scalar(b1)), mul(g, grad, g.scalar(1 - b1)));
      const v = add(g, mul(g, slots.v!, g.scalar(b2)), mul(g, mul(g, grad, grad), g.scalar(1 - b2)));
      out.m = m;
      out.v = v;
      // lr_t = lr·√(1 − β2^t)/(1 − β1^t)
      const c2 = sqrt(g, sub(g, g.scalar(1), pow(g, g.scalar(b2), step)));
      const c1 = sub(g, g.scalar(1), pow(g, g.scalar(b1), step));
      const lrT = div(g, mul(g, lr, c2), c1);
      next = sub(g, w, mul(g, lrT, div(g, m, add(g, sqrt(g, v), eps()))));
      break;
    }
    case 'rmsprop': {
      const rho = config.rho ?? 0.9;
      const ms = add(g, mul(g, slots.rms!, g.scalar(rho)), mul(g, mul(g, grad, grad), g.scalar(1 - rho)));
      out.rms = ms;
      next = sub(g, w, mul(g, lr, div(g, grad, add(g, sqrt(g, ms), eps()))));
      break;
    }
  }
  if (decay && config.weightDecay) next = sub(g, next, mul(g, mul(g, lr, g.scalar(config.weightDecay)), w));
  return { w: next, slots: out };
}

export interface GroupMember {
  readonly w: Value;
  readonly grad: Value;
  readonly slots: Readonly<Record<string, Value>>;
}

/**
 * One update for many small tensors: their flat views are concatenated, updated together and split
 * again. Per-tensor updates cost ~10 nodes each (BN scales and offsets are half of all trainable tensors),
 * and on ORT the per-node overhead outweighs the copies for tensors of a few thousand elements.
 */
export function buildGroupedUpdate(g: Graph, config: OptimizerConfig, members: readonly GroupMember[], shared: Pick<UpdateInputs, 'lr' | 'step' | 'decay'>): { w: Value; slots: Record<string, Value> }[] {
  const sizes = members.map((m) => numel(m.w.shape.map(Number)));
  const total = sizes.reduce((a, b) => a + b, 0);
  const joined = (pick: (m: GroupMember) => Value) => concat(g, members.map((m) => reshape(g, pick(m), [-1], [numel(m.w.shape.map(Number))])), 0);
  const names = Object.keys(members[0]!.slots);
  const next = buildUpdate(g, config, { ...shared, w: joined((m) => m.w), grad: joined((m) => m.grad), slots: Object.fromEntries(names.map((k) => [k, joined((m) => m.slots[k]!)])) });
  const split = (v: Value) => g.opN('Split', [v, g.ints(sizes)], { axis: 0 }, sizes.map((n) => ({ shape: [n], dtype: 'float32' as const })))
    .map((part, i) => reshape(g, part, members[i]!.w.shape.map(Number), members[i]!.w.shape));
  if (total !== numel(next.w.shape.map(Number))) throw new InvariantError('grouped update: size mismatch');
  const ws = split(next.w);
  const slotParts = Object.fromEntries(names.map((k) => [k, split(next.slots[k]!)]));
  return members.map((_, i) => ({ w: ws[i]!, slots: Object.fromEntries(names.map((k) => [k, slotParts[k]![i]!])) }));
}
