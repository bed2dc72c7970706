import type { Graph, Value } from '../graph/index.ts';
import type { Layer, LayerKind } from '../models/spec.ts';
import type { BlockedLayout } from './blocked-layout.ts';

export type Mode = 'train' | 'eval';

/** What a rule sees while it emits nodes. */
export interface RuleContext {
  readonly g: Graph;
  /** `eval`: BN on its moving statistics, in the forward and the backward (explanation graphs). */
  readonly mode: Mode;
  /** Whether backward rules emit parameter gradients; without them only input gradients flow. */
  readonly paramGrads: boolean;
  /** The graph value of a model variable (`<layer>/<var>`). */
  param(key: string): Value;
  /** Report an updated non-trainable variable (BN moving statistics). */
  setState(key: string, value: Value): void;
  /** Upper bound in bytes for one unfolded (im2col) weight-gradient buffer. */
  readonly unfoldBudget: number;
  /** Channel block of ORT's blocked conv kernels for convs on fed weights (src/graph/nchwc.ts); 0: standard Conv only. */
  readonly nchwcBlock: number;
  /** Maps kept blocked between ops (baked-weight graphs); null: every value NCHW. Rules without `layoutAware` see NCHW only. */
  readonly layout: BlockedLayout | null;
}

export interface ForwardResult {
  readonly y: Value;
  /** Whatever the backward needs, kept as graph values (never fetched). */
  readonly saved: Readonly<Record<string, Value>>;
}

export interface BackwardResult {
  /** Gradient per layer input, in `layerInputs` order; null where no gradient is wanted. */
  readonly dx: readonly (Value | null)[];
  /**
   * A per-channel factor [C] the matching `dx` still has to be multiplied by. A consumer rule that takes
   * scaled gradients (a conv folds it into its small kernel and kernel gradient) saves a full pass.
   */
  readonly dxScale?: readonly (Value | null)[];
  /** Gradient per trainable variable key; empty unless `ctx.paramGrads`. */
  readonly dparams: Readonly<Record<string, Value>>;
}

export interface GradRule<K extends LayerKind> {
  forward(ctx: RuleContext, layer: Extract<Layer, { kind: K }>, inputs: readonly Value[]): ForwardResult;
  /** `needDx[i]`: whether input i needs a gradient; `gyScale`: a per-channel factor of gy not yet applied. */
  backward(ctx: RuleContext, layer: Extract<Layer, { kind: K }>, inputs: readonly Value[], fwd: ForwardResult, gy: Value, needDx: readonly boolean[], gyScale?: Value): BackwardResult;
  /** The rule applies `gyScale` itself. */
  readonly takesScaledGradient?: boolean;
  /** The rule takes blocked inputs and gradients (ctx.layout) and says which of its results are blocked. */
  readonly layoutAware?: boolean;
}

/** A missing rule is a compile error. */
export type GradRules = { readonly [K in LayerKind]: GradRule<K> };
