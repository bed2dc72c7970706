/**
 * The combination an ensemble's graph ends with, shared by members and by test-time-augmentation views: each
 * part's scores are aligned to the bundle's tags and averaged with per-tag weights (a tag a part does not know
 * weighs 0 there and the others' weights are renormalised), as logits or as probabilities.
 */
import { TagbooruError } from '../errors.ts';
import type { CombineMode } from '../infer/bundle.ts';
import type { ModelProto, NodeProto } from '../graph/proto.ts';
import type { Emitter } from './emit.ts';

export const COMBINE_MODES: readonly CombineMode[] = ['logit-mean', 'prob-mean', 'weighted', 'random'];

/** Probabilities are clamped into [ε, 1 − ε] before a logit is taken from them (as src/infer/ood.ts does). */
export const LOGIT_EPSILON = 1e-7;

/** Where a graph's scores are: its logits, its probabilities, or both. */
export interface Scores {
  readonly logits: string | null;
  readonly probs: string | null;
}

/** The output's logits (the value before its final Sigmoid) and probabilities, as the graph shows them. */
export function scoresOf(model: ModelProto, output: string, activation: 'sigmoid' | 'logits'): Scores {
  if (activation === 'logits') return { logits: output, probs: null };
  const producer = new Map<string, NodeProto>();
  for (const n of model.graph?.node ?? []) for (const o of n.output ?? []) producer.set(o, n);
  let v = output;
  for (let p = producer.get(v); p?.opType === 'Identity'; p = producer.get(v)) v = p.input![0]!;
  const last = producer.get(v);
  return { logits: last?.opType === 'Sigmoid' ? last.input![0]! : null, probs: output };
}

export function renamedScores(s: Scores, rename: (name: string) => string): Scores {
  return { logits: s.logits && rename(s.logits), probs: s.probs && rename(s.probs) };
}

/**
 * Per part, per tag: the part's weight over the parts that know the tag (0 where it does not). `known[k][u]`
 * says whether part k knows tag u.
 */
export function perTagWeights(weights: readonly number[], known: readonly (readonly boolean[])[], tagNames: readonly string[]): Float32Array[] {
  const out = weights.map(() => new Float32Array(tagNames.length));
  for (let u = 0; u < tagNames.length; u++) {
    let total = 0;
    for (let k = 0; k < weights.length; k++) if (known[k]![u]) total += weights[k]!;
    if (!(total > 0)) throw new TagbooruError('E_USAGE', `tag ${tagNames[u]} is known only by members of weight 0; give them a positive weight`);
    for (let k = 0; k < weights.length; k++) if (known[k]![u]) out[k]![u] = weights[k]! / total;
  }
  return out;
}

export interface Part {
  readonly scores: Scores;
  /** For each of the combined tags, the part's column holding it (any column where it does not know it); null: the same order. */
  readonly columns: readonly number[] | null;
}

export interface Combined {
  /** Probabilities [N, tags]. */
  readonly probs: string;
  /** `random` only: each part's probabilities [N, parts, tags], unknown tags filled with the combined value. */
  readonly stacked: string | null;
}

export function logitsOf(e: Emitter, s: Scores): string {
  if (s.logits) return s.logits;
  // a graph that hides its logits: invert its probabilities, clamped so that a saturated 0 or 1 stays finite
  const p = e.node('Min', [e.node('Max', [s.probs!, e.floats([LOGIT_EPSILON], [])]), e.floats([1 - LOGIT_EPSILON], [])], {}, 'clamped');
  return e.node('Sub', [e.node('Log', [p]), e.node('Log', [e.node('Sub', [e.floats([1], []), p])])], {}, 'logits');
}

export function probsOf(e: Emitter, s: Scores): string {
  return s.probs ?? e.node('Sigmoid', [s.logits!], {}, 'probs');
}

/** Parts combined by `mode` with per-tag weights `weights[k]` (perTagWeights). */
export function combineParts(e: Emitter, parts: readonly Part[], weights: readonly Float32Array[], mode: CombineMode): Combined {
  const tags = weights[0]!.length;
  const aligned = (k: number, value: string) => {
    const cols = parts[k]!.columns;
    return cols ? e.node('Gather', [value, e.ints(cols)], { axis: 1 }, 'aligned') : value;
  };
  const mean = (values: readonly string[]) =>
    values.map((v, k) => e.node('Mul', [v, e.floats(weights[k]!, [tags], 'weights')], {}, 'weighted')).reduce((a, b) => e.node('Add', [a, b], {}, 'sum'));
  if (mode === 'logit-mean') return { probs: e.node('Sigmoid', [mean(parts.map((p, k) => aligned(k, logitsOf(e, p.scores))))], {}, 'combined'), stacked: null };
  const probs = parts.map((p, k) => aligned(k, probsOf(e, p.scores)));
  const combined = mean(probs);
  if (mode !== 'random') return { probs: combined, stacked: null };
  const rows = probs.map((p, k) => {
    const known = Float32Array.from(weights[k]!, (w) => (w > 0 ? 1 : 0));
    const filled = e.node('Add', [e.node('Mul', [p, e.floats(known, [tags], 'known')]), e.node('Mul', [combined, e.floats(known.map((x) => 1 - x), [tags], 'unknown')])], {}, 'filled');
    return e.node('Reshape', [filled, e.ints([-1, 1, tags])], {}, 'row');
  });
  return { probs: combined, stacked: e.node('Concat', rows, { axis: 1 }, 'members') };
}
