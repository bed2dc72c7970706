/**
 * project.json's `"adversarial"`: train on adversarial versions of each batch, attacked inside the step graph
 * (autodiff/adversarial.ts). Budgets are in pixel units (1 = black to white) and may be written as fractions:
 *
 *   "adversarial": { "eps": "4/255", "method": "fgsm-rs", "ratio": 0.5 }
 *
 * Defaults: method fgsm-rs with 1 step (pgd with 7), α = 1.25ε for fgsm-rs and 2.5ε/steps for pgd, ratio 1,
 * goal all-tags (one-tag: each attacked sample's attack climbs one drawn tag's loss; engine.ts draws it, a
 * positive to hide with odds hide_share, default ½, else a negative to add).
 */
import { DEFAULT_HIDE_SHARE, attackedCount, defaultStepSize, type AdversarialGoal, type AdversarialMethod, type AdversarialOptions, type PixelMap } from '../autodiff/adversarial.ts';
import { TagbooruError, describeValue } from '../errors.ts';
import type { PreprocessSpec } from '../image/index.ts';
import { parseFraction } from '../option-values.ts';

/** As resolved: every key set. */
export interface AdversarialSettings {
  readonly method: AdversarialMethod;
  readonly eps: number;
  readonly steps: number;
  readonly step_size: number;
  readonly ratio: number;
  readonly goal: AdversarialGoal;
  /** With the one-tag goal only (the all-tags goal draws nothing). */
  readonly hide_share?: number;
}

export const EPS_MAX = 0.25;
const METHODS: readonly AdversarialMethod[] = ['fgsm-rs', 'pgd'];
const GOALS: readonly AdversarialGoal[] = ['all-tags', 'one-tag'];
const KEYS = ['method', 'eps', 'steps', 'step_size', 'ratio', 'goal', 'hide_share'];

/** The settings of a project file's "adversarial" object; errors name the key, the range and what arrived. */
export function resolveAdversarial(raw: unknown, file: string): AdversarialSettings {
  const key = (k: string) => `"adversarial.${k}" in ${file}`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TagbooruError('E_USAGE', `${file}: "adversarial" must be an object like { "eps": "4/255" }, got ${JSON.stringify(raw)}`);
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KEYS.includes(k)) throw new TagbooruError('E_USAGE', `${file}: unknown key "adversarial.${k}". Known: ${KEYS.join(', ')}`);
  const usage = (k: string, expected: string) => new TagbooruError('E_USAGE', `Expected ${expected} for ${key(k)} but received ${describeValue(o[k])}`);
  const budget = (k: string, max: number): number => {
    if (typeof o[k] !== 'number' && typeof o[k] !== 'string') throw usage(k, `a number or a fraction like 4/255 in (0, ${max}]`);
    return parseFraction(key(k), o[k], 0, max, true);
  };
  if (o.eps === undefined) throw new TagbooruError('E_USAGE', `${file}: "adversarial" needs "eps", the L∞ budget in pixel units (e.g. "4/255")`);
  const eps = budget('eps', EPS_MAX);
  if (o.method !== undefined && !METHODS.includes(o.method as AdversarialMethod)) throw usage('method', `one of ${METHODS.join(', ')}`);
  if (o.steps !== undefined && !(Number.isInteger(o.steps) && (o.steps as number) >= 1)) throw usage('steps', 'an integer ≥ 1');
  const method = (o.method as AdversarialMethod | undefined) ?? (((o.steps as number | undefined) ?? 1) > 1 ? 'pgd' : 'fgsm-rs');
  const steps = (o.steps as number | undefined) ?? (method === 'pgd' ? 7 : 1);
  if (method === 'fgsm-rs' && steps !== 1) throw usage('steps', `1 with "method": "fgsm-rs" (one gradient pass; "pgd" takes more)`);
  if (o.ratio !== undefined && !(typeof o.ratio === 'number' && o.ratio >= 0 && o.ratio <= 1)) throw usage('ratio', 'a number in [0, 1] (the share of each batch trained adversarially)');
  if (o.goal !== undefined && !GOALS.includes(o.goal as AdversarialGoal)) throw usage('goal', `one of ${GOALS.join(', ')}`);
  const goal = (o.goal as AdversarialGoal | undefined) ?? 'all-tags';
  if (o.hide_share !== undefined && !(typeof o.hide_share === 'number' && o.hide_share >= 0 && o.hide_share <= 1)) throw usage('hide_share', 'a number in [0, 1] (the odds that a one-tag attack hides a positive rather than adds a negative)');
  if (o.hide_share !== undefined && goal !== 'one-tag') throw new TagbooruError('E_USAGE', `${key('hide_share')} needs "goal": "one-tag" (the all-tags goal draws no tag to hide or add)`);
  const stepSize = o.step_size === undefined ? defaultStepSize(method, eps, steps) : budget('step_size', 1);
  return { method, eps, steps, step_size: stepSize, ratio: o.ratio ?? 1, goal, ...(goal === 'one-tag' ? { hide_share: o.hide_share ?? DEFAULT_HIDE_SHARE } : {}) };
}

/** The step graph's options: the budget applied in pixel units before the preprocessing's normalisation. */
export function adversarialOptions(s: AdversarialSettings, preprocess: PreprocessSpec): AdversarialOptions {
  return { method: s.method, eps: s.eps, steps: s.steps, stepSize: s.step_size, ratio: s.ratio, goal: s.goal, hideShare: s.hide_share, pixel: pixelMap(preprocess) };
}

/** input = p·(255·scale/std) − mean/std per output channel, p the pixel in [0, 1] (image/preprocess.ts). */
export function pixelMap(spec: PreprocessSpec): PixelMap {
  const source = [0, 1, 2].map((k) => (spec.channelOrder === 'BGR' ? 2 - k : k));
  // 0 − m, not −m: a zero mean gives the offset 0, not −0
  return { scale: source.map((c) => (255 * spec.scale) / spec.std[c]!), offset: source.map((c) => 0 - spec.mean[c]! / spec.std[c]!) };
}

/** One line for the training log: `fgsm-rs, ε 0.0157 (4.0/255), α 0.0196 (5.0/255), 16 of 32 samples per batch attacked`. */
export function describeAdversarial(s: AdversarialSettings, batch: number): string {
  const in255 = (v: number) => `${(v * 255).toFixed(1)}/255`;
  return `${s.method}${s.method === 'pgd' ? ` ${s.steps} steps` : ''}, ε ${s.eps.toPrecision(3)} (${in255(s.eps)}), α ${s.step_size.toPrecision(3)} (${in255(s.step_size)}), ${attackedCount(batch, s.ratio)} of ${batch} samples per batch attacked${s.goal === 'one-tag' ? `, one tag each (${oneTagOdds(s.hide_share ?? DEFAULT_HIDE_SHARE)})` : ''}`;
}

function oneTagOdds(hideShare: number): string {
  if (hideShare === DEFAULT_HIDE_SHARE) return 'hide or add';
  const pct = (v: number) => `${+(v * 100).toFixed(1)} %`;
  return `hide ${pct(hideShare)}, add ${pct(1 - hideShare)}`;
}
