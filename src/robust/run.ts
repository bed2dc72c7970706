/**
 * Attacks on image files: each original at the model's resolution, attacked in batches, the perturbation
 * mapped back onto the original, and success judged twice: on the model-resolution adversarial image, and on
 * the full-size one preprocessed again (what a user who uploads it gets). One report per image.
 */
import { decodeImage, type DecodedImage } from '../image/decode.ts';
import type { TagInfo } from '../infer/bundle.ts';
import { roundScore } from '../infer/rounding.ts';
import { TrainingDatabase } from '../data/training-db.ts';
import { Rng } from '../models/random.ts';
import { attackBatch, type AttackSettings, type ImageAttack } from './attack.ts';
import { defendedLogits } from './defended.ts';
import { byteNorms, mapBack, originalRgb } from './full-size.ts';
import { fullSizeVictim } from './full-size-victim.ts';
import { modelPixels } from './pixel-space.ts';
import { judge, selectedTags, type Goal } from './goals.ts';
import type { Victim } from './victim.ts';

export interface ScoredName {
  readonly name: string;
  readonly score: number;
}

export interface ImageReport {
  readonly file: string;
  readonly goal: string;
  /** False: the goal means nothing here (hide a tag the model does not select, add one it does); not attacked. */
  readonly applies: boolean;
  readonly before: ScoredName[];
  /** At the model's input resolution. */
  readonly model: { success: boolean; strict: boolean; collateral: number; flipped: string[]; after: ScoredName[]; linf: number; l2: number; loss: number; steps: number; queries: number };
  /** The full-size adversarial image, preprocessed again as an upload would be. */
  readonly fullSize: { success: boolean; strict: boolean; collateral: number; flipped: string[]; after: ScoredName[]; linf: number; l2: number; width: number; height: number };
}

export interface FileResult {
  readonly report: ImageReport;
  /** The full-size adversarial image (RGB bytes). */
  readonly image: DecodedImage;
}

export function goalName(goal: Goal, tags: readonly TagInfo[]): string {
  return goal.kind === 'hide' || goal.kind === 'add' ? `${goal.kind}:${tags[goal.tag]!.name}` : goal.kind;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

function scored(logits: ArrayLike<number>, selected: ArrayLike<number>, tags: readonly TagInfo[], from = 0): ScoredName[] {
  const out: ScoredName[] = [];
  for (let t = 0; t < tags.length; t++) if (selected[t] === 1) out.push({ name: tags[t]!.name, score: roundScore(sigmoid(logits[from + t]!)) });
  return out.sort((a, b) => b.score - a.score);
}

/** The image paths of a training database (its posts, in id order). */
export function databaseImages(file: string): string[] {
  const db = TrainingDatabase.open(file, { readonly: true });
  try {
    return [...db.records()].map((r) => r.path);
  } finally {
    db.close();
  }
}

/**
 * Where the ε-ball lives: `model`, the image at the model's input resolution (the perturbation is then mapped back
 * onto the original); `full`, the original itself, through the bundle's geometry (full-size-victim.ts).
 */
export type AttackSpace = 'model' | 'full';

/** Attack `files` (each with its goal) in batches of `batch`; results in order. */
export async function attackFiles(victim: Victim, items: readonly { file: string; goal: Goal }[], tags: readonly TagInfo[], thresholds: Float64Array, s: AttackSettings, batch: number, space: AttackSpace = 'model', onResult?: (r: FileResult) => Promise<void> | void): Promise<FileResult[]> {
  const spec = victim.preprocess, results: FileResult[] = [];
  for (let start = 0; start < items.length; start += batch) {
    const chunk = items.slice(start, start + batch);
    const originals = await Promise.all(chunk.map(async (it) => originalRgb(await decodeImage(it.file), spec)));
    const size = spec.width * spec.height * 3;
    const x0 = new Float32Array(chunk.length * size);
    originals.forEach((o, i) => x0.set(modelPixels(o, spec), i * size));
    let attacks: ImageAttack[], full: DecodedImage[], logits: Float32Array;
    if (space === 'model') {
      attacks = await attackBatch(victim, x0, chunk.map((it) => it.goal), thresholds, { ...s, seed: s.seed + start });
      ({ full, logits } = await fullSize(victim, originals, x0, attacks, s, s.seed + start));
    } else {
      // one image at a time: the originals' sizes differ, and with them the geometry
      attacks = [];
      full = [];
      for (const [i, o] of originals.entries()) {
        const x = Float32Array.from(o.data, (b) => b / 255);
        const [a] = await attackBatch(fullSizeVictim(victim, o.width, o.height), x, [chunk[i]!.goal], thresholds, { ...s, seed: s.seed + start + i });
        attacks.push(a!);
        full.push({ ...o, data: Uint8Array.from(a!.x, (v) => Math.min(255, Math.max(0, Math.round(v * 255)))) });
      }
      const reX = new Float32Array(chunk.length * size);
      full.forEach((f, i) => reX.set(modelPixels(f, spec), i * size));
      logits = await defendedLogits(victim, reX, chunk.length, s.threat);
    }
    for (let i = 0; i < chunk.length; i++) {
      const r = { report: report(chunk[i]!.file, attacks[i]!, originals[i]!, full[i]!, logits, i, tags, thresholds), image: full[i]! };
      results.push(r);
      await onResult?.(r);
    }
  }
  return results;
}

/** The attacks' perturbations mapped back onto the originals, and the defended logits of those preprocessed again. */
export async function fullSize(victim: Victim, originals: readonly DecodedImage[], x0: Float32Array, attacks: readonly ImageAttack[], s: AttackSettings, seed: number): Promise<{ full: DecodedImage[]; logits: Float32Array }> {
  const spec = victim.preprocess, size = spec.width * spec.height * 3;
  const full = originals.map((o, i) => mapBack(o, Float32Array.from(attacks[i]!.x, (v, j) => v - x0[i * size + j]!), spec, s.norm === 'linf' ? s.eps : Infinity));
  const reX = new Float32Array(originals.length * size);
  full.forEach((f, i) => reX.set(modelPixels(f, spec), i * size));
  const draws = new Rng(seed + 7919);
  return { full, logits: await defendedLogits(victim, reX, originals.length, { ...s.threat, rng: () => draws.next() }) };
}

/** Whether each attack still succeeds on its full-size image preprocessed again. */
export function fullSizeOutcomes(attacks: readonly ImageAttack[], logits: Float32Array, thresholds: Float64Array): boolean[] {
  const T = thresholds.length;
  return attacks.map((a, i) => a.applies && judge(a.goal, a.clean, selectedTags(Float64Array.from(thresholds, (_, t) => sigmoid(logits[i * T + t]!)), thresholds)).success);
}

function report(file: string, a: ImageAttack, original: DecodedImage, full: DecodedImage, reLogits: Float32Array, i: number, tags: readonly TagInfo[], thresholds: Float64Array): ImageReport {
  const T = tags.length;
  const names = (idx: number[]) => idx.map((t) => tags[t]!.name);
  const reSelected = selectedTags(Float64Array.from(thresholds, (_, t) => sigmoid(reLogits[i * T + t]!)), thresholds);
  const re = judge(a.goal, a.clean, reSelected);
  const fullNorms = byteNorms(original.data, full.data);
  const r3 = (v: number) => Math.round(v * 1000) / 1000;
  return {
    file, goal: goalName(a.goal, tags), applies: a.applies,
    before: scored(a.cleanLogits, a.clean, tags),
    model: {
      success: a.applies && a.outcome.success, strict: a.applies && a.outcome.strict, collateral: a.outcome.collateral, flipped: names(a.outcome.flipped),
      after: scored(a.advLogits, a.adv, tags), linf: r3(a.linf), l2: r3(a.l2), loss: r3(a.loss), steps: a.steps, queries: a.queries,
    },
    fullSize: {
      success: a.applies && re.success, strict: a.applies && re.strict, collateral: re.collateral, flipped: names(re.flipped),
      after: scored(reLogits, reSelected, tags, i * T), linf: r3(fullNorms.linf), l2: r3(fullNorms.l2), width: full.width, height: full.height,
    },
  };
}

export interface Summary {
  readonly images: number;
  /** Images the goal applies to (the denominator of the rates). */
  readonly attacked: number;
  readonly successRate: number;
  readonly strictRate: number;
  readonly fullSizeSuccessRate: number;
  readonly fullSizeStrictRate: number;
  /** Over the attacked images, /255 units. */
  readonly meanLinf: number;
  readonly meanL2: number;
  readonly meanFullSizeLinf: number;
  readonly meanFullSizeL2: number;
}

export function summarise(reports: readonly ImageReport[]): Summary {
  const att = reports.filter((r) => r.applies);
  const rate = (f: (r: ImageReport) => boolean) => (att.length ? att.filter(f).length / att.length : 0);
  const mean = (f: (r: ImageReport) => number) => (att.length ? att.reduce((a, r) => a + f(r), 0) / att.length : 0);
  return {
    images: reports.length, attacked: att.length,
    successRate: rate((r) => r.model.success), strictRate: rate((r) => r.model.strict),
    fullSizeSuccessRate: rate((r) => r.fullSize.success), fullSizeStrictRate: rate((r) => r.fullSize.strict),
    meanLinf: mean((r) => r.model.linf), meanL2: mean((r) => r.model.l2), meanFullSizeLinf: mean((r) => r.fullSize.linf), meanFullSizeL2: mean((r) => r.fullSize.l2),
  };
}
