/**
 * Attacking randomised member selection (`ensemble --combine random`, MULDEF): each image is answered by one
 * member drawn with the ensemble's odds, so an attacker can hope for a probability of success over the draw,
 * and that is what is reported: Σ_k w_k · [the goal is met under member k's answer]. The draw is over a finite
 * set, so the adaptive attack takes its expectation exactly (EOT without sampling): it descends
 * E_k[L_k] = Σ_k w_k · L_k, the members' margin losses weighted by their odds, with the gradient Σ_k w_k · ∇L_k.
 * The naive attack for comparison descends one fixed member's loss.
 */
import { InvariantError, TagbooruError, errorMessage } from '../errors.ts';
import type { PreprocessSpec } from '../image/spec.ts';
import { readBundle, type Bundle } from '../infer/bundle.ts';
import { modelInputs } from '../infer/model-io.ts';
import { Rng } from '../models/random.ts';
import type { AttackSettings } from './attack.ts';
import { goalApplies, goalLoss, goalTerms, judge, selectedTags, type Goal, type GoalTerms } from './goals.ts';
import { pgd } from './pgd.ts';
import { squareAttack } from './square.ts';
import { createVictim, openVictim, type Victim } from './victim.ts';

export interface DrawVictim {
  readonly preprocess: PreprocessSpec;
  readonly tagCount: number;
  /** The draw's odds, one per member, summing to 1. */
  readonly weights: readonly number[];
  readonly names: readonly string[];
  /** Every member's answer as logits [n, members, T] (a tag a member does not know: the other members' mean, as the graph fills it). */
  memberLogits(x: Float32Array, n: number): Promise<Float32Array>;
  /** Member k's margin loss and input gradient; the terms in the bundle's tag order (a tag k does not know is left out). */
  gradient(k: number, x: Float32Array, n: number, terms: readonly GoalTerms[]): Promise<{ loss: Float32Array; grad: Float32Array }>;
  close(): Promise<void>;
}

/** Whether a bundle draws one member per image. */
export const drawsMembers = (b: Bundle): boolean => b.manifest.ensemble?.combine === 'random';

/**
 * The ensemble's own graph answers for every member at once (`member_probabilities`); the gradients come from each
 * member's training weights, read from the member bundle the ensemble was built from (`ensemble.members[k].source`).
 */
export async function openDrawVictim(bundle: Bundle, o: { threads?: number; gradients: 'all' | readonly number[] }): Promise<DrawVictim> {
  const m = bundle.manifest, e = m.ensemble!;
  if (modelInputs(m).length > 1) throw new TagbooruError('E_USAGE', `${bundle.dir}: its members read differently preprocessed inputs, so there is no one image at the model's resolution to perturb; attack an ensemble of members that share their preprocessing`);
  const M = e.members.length, T = m.tags.length;
  const answers = await createVictim({
    preprocess: m.preprocess, tagCount: M * T, inference: bundle.modelPath, threads: o.threads,
    io: { input: m.input, output: { name: e.memberOutput!, activation: 'sigmoid' } },
  });
  // only the members whose gradient the objective weighs: the attack graph of a large member is costly to build
  const members: ({ victim: Victim; columns: number[] } | undefined)[] = [];
  try {
    for (const [k, member] of e.members.entries()) {
      if (o.gradients !== 'all' && !o.gradients.includes(k)) members.push(undefined);
      else {
        const source = await readBundle(member.source).catch((err: unknown) => {
          throw new TagbooruError('E_USAGE', `a gradient attack on ${bundle.dir} needs each member's training weights, from the bundle it was built from; member ${k + 1} (${member.name}) came from ${member.source}, which cannot be read (${errorMessage(err)}): use --method square (score-based)`);
        });
        const index = new Map(m.tags.map((t, i) => [t.name, i]));
        const columns = source.manifest.tags.map((t) => index.get(t.name) ?? -1);
        if (source.manifest.name !== member.name || columns.includes(-1)) throw new TagbooruError('E_USAGE', `${member.source} is not member ${k + 1} of ${bundle.dir} any more (its name or tags changed since the ensemble was built)`);
        members.push({ victim: await openVictim(source, { threads: o.threads, gradient: true }), columns });
      }
    }
  } catch (err) {
    await Promise.all([answers.close(), ...members.map((x) => x?.victim.close())]);
    throw err;
  }
  return {
    preprocess: m.preprocess, tagCount: T, weights: e.members.map((x) => x.weight), names: e.members.map((x) => x.name),
    memberLogits: (x, n) => answers.logits(x, n),
    async gradient(k, x, n, terms) {
      const opened = members[k];
      if (!opened) throw new InvariantError(`member ${k + 1}'s gradient was not opened for this attack`);
      const { victim, columns } = opened;
      const pick = (v: Float32Array) => Float32Array.from(columns, (u) => v[u]!);
      const r = await victim.gradient(x, n, terms.map((t) => ({ sign: pick(t.sign), offset: pick(t.offset), weight: pick(t.weight) })));
      return { loss: r.loss, grad: r.grad };
    },
    async close() {
      await Promise.all([answers.close(), ...members.map((x) => x?.victim.close())]);
    },
  };
}

/** What the attacker descends: the exact expectation over the draw, or one member's loss (the naive attack). */
export type DrawObjective = { readonly kind: 'expected' } | { readonly kind: 'member'; readonly member: number };

/** `expected`, or `member:<k>` (1-based). */
export function parseDrawObjective(raw: string, members: number): DrawObjective {
  if (raw === 'expected') return { kind: 'expected' };
  const k = /^member:(\d+)$/.exec(raw);
  if (!k || Number(k[1]) < 1 || Number(k[1]) > members) throw new TagbooruError('E_USAGE', `Expected expected or member:<1–${members}> for --draw but received "${raw}"`);
  return { kind: 'member', member: Number(k[1]) - 1 };
}

/** The goal's outcome under each draw, and its probability over the draw. */
export interface DrawOutcome {
  /** Σ_k w_k · [the goal is met when member k answers]. */
  readonly probability: number;
  /** The same with no other tag changed. */
  readonly strictProbability: number;
  readonly met: readonly boolean[];
}

/** Whether the goal holds in a selection: the target's side for hide and add, no tag for hide-all, a flip for untargeted. */
function holds(goal: Goal, clean: Uint8Array, adv: Uint8Array): boolean {
  if (goal.kind === 'hide') return adv[goal.tag] === 0;
  if (goal.kind === 'add') return adv[goal.tag] === 1;
  return judge(goal, clean, adv).success;
}

export function drawOutcome(goal: Goal, clean: readonly Uint8Array[], adv: readonly Uint8Array[], weights: readonly number[]): DrawOutcome {
  let probability = 0, strictProbability = 0;
  const met = weights.map((w, k) => {
    const ok = holds(goal, clean[k]!, adv[k]!);
    probability += ok ? w : 0;
    strictProbability += ok && judge(goal, clean[k]!, adv[k]!).collateral === 0 ? w : 0;
    return ok;
  });
  return { probability, strictProbability, met };
}

/** Each member's selection for image i of member logits [n, M, T]. */
export function memberSelections(logits: Float32Array, i: number, members: number, thresholds: Float64Array): Uint8Array[] {
  const T = thresholds.length;
  return Array.from({ length: members }, (_, k) => selectedTags(Float64Array.from(thresholds, (_, t) => 1 / (1 + Math.exp(-logits[(i * members + k) * T + t]!))), thresholds));
}

/** E_k[L_k] on member logits: each member's margin loss on its answer, with its own clean side's terms. */
export function expectedLoss(logits: Float32Array, i: number, terms: readonly GoalTerms[], weights: readonly number[]): number {
  const T = terms[0]!.sign.length;
  return weights.reduce((sum, w, k) => sum + w * goalLoss(logits, terms[k]!, (i * weights.length + k) * T), 0);
}

export interface DrawImageAttack {
  readonly goal: Goal;
  /** False when the goal already holds under every draw (or means nothing under any): not attacked. */
  readonly applies: boolean;
  readonly clean: readonly Uint8Array[];
  /** The goal's probability over the draw on the clean image. */
  readonly before: DrawOutcome;
  readonly x: Float32Array;
  readonly outcome: DrawOutcome;
  /** The expected loss over the draw at `x`. */
  readonly loss: number;
  readonly steps: number;
  readonly queries: number;
}

/** The members' gradient weights under the objective: their odds (expected) or one member alone (naive). */
function objectiveWeights(victim: DrawVictim, objective: DrawObjective): number[] {
  return victim.weights.map((w, k) => (objective.kind === 'expected' ? w : k === objective.member ? 1 : 0));
}

/** E_k[L_k] and its gradient Σ_k w_k ∇L_k for a sub-batch (terms[i][k]: image i's terms on member k's clean side). */
export async function drawGradient(victim: DrawVictim, x: Float32Array, terms: readonly (readonly GoalTerms[])[], weights: readonly number[]): Promise<{ loss: Float32Array; grad: Float32Array }> {
  const n = terms.length, loss = new Float32Array(n), grad = new Float32Array(x.length);
  for (const [k, w] of weights.entries()) {
    if (w === 0) continue;
    const r = await victim.gradient(k, x, n, terms.map((t) => t[k]!));
    for (let i = 0; i < n; i++) loss[i]! += w * r.loss[i]!;
    for (let j = 0; j < grad.length; j++) grad[j]! += w * r.grad[j]!;
  }
  return { loss, grad };
}

/**
 * One attack on a batch at the model's resolution, against the draw. Restarts re-attack only the images whose
 * goal does not hold under every draw, and each image keeps the result with the higher probability (then the
 * lower expected loss).
 */
export async function attackDrawBatch(victim: DrawVictim, x0: Float32Array, goals: readonly Goal[], thresholds: Float64Array, s: AttackSettings, objective: DrawObjective): Promise<DrawImageAttack[]> {
  const n = goals.length, M = victim.weights.length, size = x0.length / n;
  const rng = new Rng(s.seed), next = () => rng.next();
  const cleanLogits = await victim.memberLogits(x0, n);
  const clean = goals.map((_, i) => memberSelections(cleanLogits, i, M, thresholds));
  const terms = goals.map((g, i) => clean[i]!.map((c) => goalTerms(g, c, thresholds, s.loss)));
  const before = goals.map((g, i) => drawOutcome(g, clean[i]!, clean[i]!, victim.weights));
  const applies = goals.map((g, i) => before[i]!.probability < 1 && clean[i]!.some((c, k) => victim.weights[k]! > 0 && goalApplies(g, c)));
  const weights = objectiveWeights(victim, objective);
  const x = x0.slice(), best = goals.map(() => ({ probability: -1, loss: Infinity }));
  const steps = new Int32Array(n), queries = new Int32Array(n);
  for (let r = 0; r < Math.max(1, s.restarts); r++) {
    const idx = goals.map((_, i) => i).filter((i) => applies[i] && best[i]!.probability < 1);
    if (idx.length === 0) break;
    const sub = new Float32Array(idx.length * size);
    idx.forEach((i, a) => sub.set(x0.subarray(i * size, (i + 1) * size), a * size));
    const subTerms = idx.map((i) => terms[i]!);
    let found: Float32Array;
    if (s.method === 'square') {
      const res = await squareAttack(async (cand, images) => {
        const logits = await victim.memberLogits(cand, images.length);
        const loss = Float32Array.from(images, (i, a) => expectedLoss(logits, a, subTerms[i]!, weights));
        const done = images.map((i, a) => drawOutcome(goals[idx[i]!]!, clean[idx[i]!]!, memberSelections(logits, a, M, thresholds), victim.weights).probability === 1);
        return { loss, done };
      }, sub, idx.length, { eps: s.eps, queries: s.steps, width: victim.preprocess.width, height: victim.preprocess.height, rng: next });
      found = res.x;
      idx.forEach((i, a) => (queries[i]! += res.queries[a]!));
    } else {
      const res = await pgd((cand) => drawGradient(victim, cand, subTerms, weights), sub, idx.length, {
        norm: s.norm, eps: s.eps, steps: s.steps, stepSize: s.stepSize, schedule: s.method, randomStart: true, rng: next,
      });
      found = res.x;
      idx.forEach((i) => (steps[i]! += res.steps));
    }
    const logits = await victim.memberLogits(found, idx.length);
    idx.forEach((i, a) => {
      const probability = drawOutcome(goals[i]!, clean[i]!, memberSelections(logits, a, M, thresholds), victim.weights).probability;
      const loss = expectedLoss(logits, a, terms[i]!, victim.weights);
      if (probability > best[i]!.probability || (probability === best[i]!.probability && loss < best[i]!.loss)) {
        best[i] = { probability, loss };
        x.set(found.subarray(a * size, (a + 1) * size), i * size);
      }
    });
  }
  const advLogits = await victim.memberLogits(x, n);
  return goals.map((goal, i) => ({
    goal, applies: applies[i]!, clean: clean[i]!, before: before[i]!, x: x.slice(i * size, (i + 1) * size),
    outcome: drawOutcome(goal, clean[i]!, memberSelections(advLogits, i, M, thresholds), victim.weights),
    loss: applies[i] ? expectedLoss(advLogits, i, terms[i]!, victim.weights) : 0, steps: steps[i]!, queries: queries[i]!,
  }));
}
