/**
 * What a multi-label attack wants (reference/robustness.md §b.4), as per-tag terms of the margin loss in
 * src/autodiff/input-gradient.ts, and how its success is judged on the thresholded tag set.
 */
import { invalidOption } from '../errors.ts';
import type { BundleManifest, TagInfo } from '../infer/bundle.ts';
import { normaliseTag } from '../infer/pattern.ts';
import { closestTags } from '../infer/tag-names.ts';

export const GOAL_KINDS = ['hide', 'add', 'hide-all', 'untargeted'] as const;

export type Goal =
  /** Push one selected tag below its threshold and keep every other tag on its side. */
  | { readonly kind: 'hide'; readonly tag: number }
  /** Push one unselected tag above its threshold and keep every other tag on its side. */
  | { readonly kind: 'add'; readonly tag: number }
  /** Push every tag below its threshold. */
  | { readonly kind: 'hide-all' }
  /** Flip as many tags as possible. */
  | { readonly kind: 'untargeted' };

export const GOAL_USAGE = 'hide:<tag>, add:<tag>, hide-all or untargeted';

/** `hide:<tag>`, `add:<tag>`, `hide-all`, `untargeted`; an unknown tag is named with the model's closest ones. */
export function parseGoal(raw: string, tags: readonly TagInfo[]): Goal {
  if (raw === 'hide-all' || raw === 'untargeted') return { kind: raw };
  const m = /^(hide|add):(.+)$/.exec(raw);
  if (!m) throw invalidOption('goal', GOAL_USAGE, raw);
  const key = normaliseTag(m[2]!);
  const tag = tags.findIndex((t) => normaliseTag(t.name) === key);
  if (tag < 0) {
    const close = closestTags(m[2]!, tags.map((t) => t.name));
    throw invalidOption('goal', `${m[1]}:<a tag of the model>`, raw, close.length ? `did you mean ${close.map((c) => `${m[1]}:${c}`).join(', ')}?` : `no tag of the model is close to it (its tagger.json lists all ${tags.length})`);
  }
  return { kind: m[1] as 'hide' | 'add', tag };
}

/** Each tag's threshold as the bundle states it (per tag, else per category, else the default); probabilities. */
export function tagThresholds(m: Pick<BundleManifest, 'tags' | 'thresholds'>): Float64Array {
  const byTag = new Map(Object.entries(m.thresholds.tags ?? {}).map(([k, v]) => [normaliseTag(k), v]));
  return Float64Array.from(m.tags, (t) => byTag.get(normaliseTag(t.name)) ?? m.thresholds.categories?.[t.category] ?? m.thresholds.default);
}

/** A probability as a logit, clamped so that thresholds of 0 or 1 stay finite. */
export function logit(p: number): number {
  const q = Math.min(Math.max(p, 1e-7), 1 - 1e-7);
  return Math.log(q / (1 - q));
}

export interface GoalTerms {
  readonly sign: Float32Array;
  readonly offset: Float32Array;
  readonly weight: Float32Array;
}

export interface LossSettings {
  /** How far past its threshold (in logits) the attack pushes a target tag before it stops pulling. */
  readonly margin: number;
  /** The weight of the terms that keep the other tags on their clean side (hide, add). */
  readonly keep: number;
}

export const LOSS_DEFAULTS: LossSettings = { margin: 1, keep: 0.5 };

/** Whether a goal applies to an image at all: hide needs the tag selected, add needs it unselected. */
export function goalApplies(goal: Goal, cleanSelected: ArrayLike<number>): boolean {
  if (goal.kind === 'hide') return cleanSelected[goal.tag] === 1;
  if (goal.kind === 'add') return cleanSelected[goal.tag] === 0;
  if (goal.kind === 'hide-all') return Array.prototype.some.call(cleanSelected, (s: number) => s === 1);
  return true;
}

/**
 * The loss terms of one image from its clean selection (1 = selected): sign +1 wants the logit above the
 * threshold, −1 below it; target terms carry the margin, keep terms only resist crossing.
 */
export function goalTerms(goal: Goal, cleanSelected: ArrayLike<number>, thresholds: ArrayLike<number>, s: LossSettings = LOSS_DEFAULTS): GoalTerms {
  const n = thresholds.length;
  const sign = new Float32Array(n), offset = new Float32Array(n), weight = new Float32Array(n);
  for (let t = 0; t < n; t++) {
    const side = cleanSelected[t] === 1 ? 1 : -1;
    let target: number, w: number, margin: number;
    switch (goal.kind) {
      case 'hide':
      case 'add':
        [target, w, margin] = t === goal.tag ? [goal.kind === 'add' ? 1 : -1, 1, s.margin] : [side, s.keep, 0];
        break;
      case 'hide-all':
        [target, w, margin] = [-1, 1, s.margin];
        break;
      case 'untargeted':
        [target, w, margin] = [-side, 1, s.margin];
        break;
    }
    sign[t] = target;
    offset[t] = target * logit(thresholds[t]!) + margin;
    weight[t] = w;
  }
  return { sign, offset, weight };
}

/** The margin loss of one image's logits (as the graph computes it): Σ w·relu(offset − sign·z). */
export function goalLoss(logits: ArrayLike<number>, terms: GoalTerms, from = 0): number {
  let loss = 0;
  for (let t = 0; t < terms.sign.length; t++) loss += terms.weight[t]! * Math.max(0, terms.offset[t]! - terms.sign[t]! * logits[from + t]!);
  return loss;
}

/** 1 where a probability reaches its threshold (the tagger's rule: score ≥ threshold). */
export function selectedTags(probs: ArrayLike<number>, thresholds: ArrayLike<number>, from = 0): Uint8Array {
  return Uint8Array.from(thresholds, (th, t) => (probs[from + t]! >= th ? 1 : 0));
}

export interface Outcome {
  readonly success: boolean;
  /** Tags whose side changed, target or not. */
  readonly flipped: number[];
  /** Flipped tags outside the goal's target (hide, add): the collateral Hamming distance. */
  readonly collateral: number;
  /** Success with no collateral flip (the strict targeted rate of §b.4). */
  readonly strict: boolean;
}

export function judge(goal: Goal, clean: ArrayLike<number>, adv: ArrayLike<number>): Outcome {
  const flipped: number[] = [];
  for (let t = 0; t < clean.length; t++) if (clean[t] !== adv[t]) flipped.push(t);
  let success: boolean, collateral = 0;
  if (goal.kind === 'hide' || goal.kind === 'add') {
    success = adv[goal.tag] === (goal.kind === 'add' ? 1 : 0) && clean[goal.tag] !== adv[goal.tag];
    collateral = flipped.filter((t) => t !== goal.tag).length;
  } else if (goal.kind === 'hide-all') {
    success = !Array.prototype.some.call(adv, (s: number) => s === 1);
  } else {
    success = flipped.length > 0;
  }
  return { success, flipped, collateral, strict: success && collateral === 0 };
}
