/**
 * One attack on a batch of images at the model's input resolution: the goals' loss terms from the clean
 * (defended) prediction, PGD/APGD or Square with random restarts, and each image's best result judged on the
 * defended model's thresholded tags. Restarts only re-attack images not yet broken, and keep the better result.
 */
import { Rng } from '../models/random.ts';
import { attackGradient, defendedLogits, undefendedGradient, type ThreatModel } from './defended.ts';
import { goalApplies, goalLoss, goalTerms, judge, selectedTags, type Goal, type GoalTerms, type LossSettings, type Outcome } from './goals.ts';
import { pgd, type Norm } from './pgd.ts';
import { squareAttack } from './square.ts';
import type { Victim } from './victim.ts';

export const METHODS = ['pgd', 'apgd', 'square'] as const;
export type Method = (typeof METHODS)[number];

export interface AttackSettings {
  readonly method: Method;
  readonly norm: Norm;
  readonly eps: number;
  /** Gradient steps (pgd, apgd) or queries (square) per restart. */
  readonly steps: number;
  readonly stepSize?: number;
  readonly restarts: number;
  readonly threat: ThreatModel;
  readonly seed: number;
  readonly loss: LossSettings;
}

export interface ImageAttack {
  readonly goal: Goal;
  /** False when the goal means nothing for this image (hide an unselected tag, add a selected one). */
  readonly applies: boolean;
  readonly cleanLogits: Float32Array;
  readonly clean: Uint8Array;
  readonly x: Float32Array;
  readonly advLogits: Float32Array;
  readonly adv: Uint8Array;
  readonly outcome: Outcome;
  /** ‖δ‖∞ and ‖δ‖₂ in /255 units. */
  readonly linf: number;
  readonly l2: number;
  readonly loss: number;
  /** Gradient evaluations (pgd, apgd) over all restarts of this image's batch; 0 for square. */
  readonly steps: number;
  /** Model queries (square). */
  readonly queries: number;
}

/** ‖x − x0‖∞ and ‖x − x0‖₂ over [from, from + size), in /255 units. */
export function norms(x: Float32Array, x0: Float32Array, from: number, size: number): { linf: number; l2: number } {
  let linf = 0, sq = 0;
  for (let j = from; j < from + size; j++) {
    const d = Math.abs(x[j]! - x0[j]!);
    linf = Math.max(linf, d);
    sq += d * d;
  }
  return { linf: linf * 255, l2: Math.sqrt(sq) * 255 };
}

interface Attempt {
  readonly x: Float32Array;
  readonly loss: Float32Array;
  readonly steps: number;
  readonly queries: Int32Array;
}

/** One restart on the images `idx` (a sub-batch of x0). */
async function attempt(victim: Victim, x0: Float32Array, terms: readonly GoalTerms[], goals: readonly Goal[], clean: readonly Uint8Array[], thresholds: Float64Array, s: AttackSettings, rng: () => number): Promise<Attempt> {
  const n = terms.length, T = victim.tagCount;
  const threat = { ...s.threat, rng };
  if (s.method === 'square') {
    const { width, height } = victim.preprocess;
    const r = await squareAttack(async (x, images) => {
      const logits = await defendedLogits(victim, x, images.length, threat);
      const loss = Float32Array.from(images, (i, a) => goalLoss(logits, terms[i]!, a * T));
      const done = images.map((i, a) => judge(goals[i]!, clean[i]!, select(logits, a, thresholds)).success);
      return { loss, done };
    }, x0, n, { eps: s.eps, queries: s.steps, width, height, rng });
    return { x: r.x, loss: r.loss, steps: 0, queries: r.queries };
  }
  const r = await pgd(async (x) => attackGradient(victim, x, n, terms, threat), x0, n, {
    norm: s.norm, eps: s.eps, steps: s.steps, stepSize: s.stepSize, schedule: s.method, randomStart: true, rng,
    linfStep: victim.linfStep && undefendedGradient(threat) ? (x, box, eta) => victim.linfStep!(x, n, terms, box, eta) : undefined,
  });
  return { x: r.x, loss: r.loss, steps: r.steps, queries: new Int32Array(n) };
}

/** Image a's selection from a batch's logits [n, T]: σ(z) ≥ threshold. */
function select(logits: Float32Array, a: number, thresholds: Float64Array): Uint8Array {
  const T = thresholds.length;
  return selectedTags(Float64Array.from(thresholds, (_, t) => 1 / (1 + Math.exp(-logits[a * T + t]!))), thresholds);
}

export async function attackBatch(victim: Victim, x0: Float32Array, goals: readonly Goal[], thresholds: Float64Array, s: AttackSettings): Promise<ImageAttack[]> {
  const n = goals.length, T = victim.tagCount, size = x0.length / n;
  const rng = new Rng(s.seed), next = () => rng.next();
  const cleanLogits = await defendedLogits(victim, x0, n, { ...s.threat, rng: next });
  const clean = goals.map((_, i) => select(cleanLogits, i, thresholds));
  const terms = goals.map((g, i) => goalTerms(g, clean[i]!, thresholds, s.loss));
  const applies = goals.map((g, i) => goalApplies(g, clean[i]!));
  const x = x0.slice(), loss = new Float32Array(n).fill(Infinity), done = goals.map(() => false);
  const steps = new Int32Array(n), queries = new Int32Array(n);
  for (let r = 0; r < Math.max(1, s.restarts); r++) {
    const idx = goals.map((_, i) => i).filter((i) => applies[i] && !done[i]);
    if (idx.length === 0) break;
    const sub = new Float32Array(idx.length * size);
    idx.forEach((i, a) => sub.set(x0.subarray(i * size, (i + 1) * size), a * size));
    const res = await attempt(victim, sub, idx.map((i) => terms[i]!), idx.map((i) => goals[i]!), idx.map((i) => clean[i]!), thresholds, s, next);
    const logits = await defendedLogits(victim, res.x, idx.length, { ...s.threat, rng: next });
    idx.forEach((i, a) => {
      const success = judge(goals[i]!, clean[i]!, select(logits, a, thresholds)).success;
      steps[i]! += res.steps;
      queries[i]! += res.queries[a]!;
      if (success || res.loss[a]! < loss[i]!) {
        x.set(res.x.subarray(a * size, (a + 1) * size), i * size);
        loss[i] = res.loss[a]!;
        done[i] = success;
      }
    });
  }
  const advLogits = await defendedLogits(victim, x, n, { ...s.threat, rng: next });
  return goals.map((goal, i) => {
    const adv = select(advLogits, i, thresholds);
    return {
      goal, applies: applies[i]!, cleanLogits: cleanLogits.slice(i * T, (i + 1) * T), clean: clean[i]!,
      x: x.slice(i * size, (i + 1) * size), advLogits: advLogits.slice(i * T, (i + 1) * T), adv,
      outcome: judge(goal, clean[i]!, adv), ...norms(x, x0, i * size, size), loss: applies[i] ? loss[i]! : 0, steps: steps[i]!, queries: queries[i]!,
    };
  });
}
