/**
 * Attacks on image files against randomised member selection (draw.ts): each original at the model's
 * resolution, the perturbation mapped back onto it, and the probability of success over the draw judged on
 * both, as run.ts does for a single model.
 */
import { decodeImage, type DecodedImage } from '../image/decode.ts';
import type { TagInfo } from '../infer/bundle.ts';
import { norms, type AttackSettings } from './attack.ts';
import { attackDrawBatch, drawOutcome, memberSelections, type DrawObjective, type DrawOutcome, type DrawVictim } from './draw.ts';
import { byteNorms, mapBack, originalRgb } from './full-size.ts';
import type { Goal } from './goals.ts';
import { modelPixels } from './pixel-space.ts';
import { goalName, type Summary } from './run.ts';

interface DrawJudged {
  /** Σ_k w_k · [the goal is met when member k answers]: the chance that this image fools the deployed ensemble. */
  readonly successProbability: number;
  readonly strictProbability: number;
  /** Per member: whether the goal is met when it is drawn. */
  readonly members: { readonly name: string; readonly weight: number; readonly success: boolean }[];
}

export interface DrawReport {
  readonly file: string;
  readonly goal: string;
  /** What the attack descended: the expectation over the draw, or one member (naive). */
  readonly objective: string;
  readonly applies: boolean;
  /** The goal's probability over the draw before the attack (a tag hidden already under some draws). */
  readonly before: number;
  readonly model: DrawJudged & { readonly linf: number; readonly l2: number; readonly loss: number; readonly steps: number; readonly queries: number };
  readonly fullSize: DrawJudged & { readonly linf: number; readonly l2: number; readonly width: number; readonly height: number };
}

export interface DrawFileResult {
  readonly report: DrawReport;
  readonly image: DecodedImage;
}

const r3 = (v: number) => Math.round(v * 1000) / 1000;

function judged(victim: DrawVictim, o: DrawOutcome): DrawJudged {
  return {
    successProbability: o.probability, strictProbability: o.strictProbability,
    members: victim.names.map((name, k) => ({ name, weight: r3(victim.weights[k]!), success: o.met[k]! })),
  };
}

export const objectiveName = (o: DrawObjective): string => (o.kind === 'expected' ? 'expected' : `member:${o.member + 1}`);

export async function attackDrawFiles(victim: DrawVictim, items: readonly { file: string; goal: Goal }[], tags: readonly TagInfo[], thresholds: Float64Array, s: AttackSettings, batch: number, objective: DrawObjective, onResult?: (r: DrawFileResult) => Promise<void> | void): Promise<DrawFileResult[]> {
  const spec = victim.preprocess, size = spec.width * spec.height * 3, M = victim.weights.length, results: DrawFileResult[] = [];
  for (let start = 0; start < items.length; start += batch) {
    const chunk = items.slice(start, start + batch);
    const originals = await Promise.all(chunk.map(async (it) => originalRgb(await decodeImage(it.file), spec)));
    const x0 = new Float32Array(chunk.length * size);
    originals.forEach((o, i) => x0.set(modelPixels(o, spec), i * size));
    const attacks = await attackDrawBatch(victim, x0, chunk.map((it) => it.goal), thresholds, { ...s, seed: s.seed + start }, objective);
    const full = originals.map((o, i) => mapBack(o, Float32Array.from(attacks[i]!.x, (v, j) => v - x0[i * size + j]!), spec, s.norm === 'linf' ? s.eps : Infinity));
    const reX = new Float32Array(chunk.length * size);
    full.forEach((f, i) => reX.set(modelPixels(f, spec), i * size));
    const reLogits = await victim.memberLogits(reX, chunk.length);
    for (const [i, a] of attacks.entries()) {
      const fullOutcome = drawOutcome(a.goal, a.clean, memberSelections(reLogits, i, M, thresholds), victim.weights);
      const none = { probability: 0, strictProbability: 0, met: victim.weights.map(() => false) };
      const { linf, l2 } = norms(a.x, x0.subarray(i * size, (i + 1) * size), 0, size);
      const fullNorms = byteNorms(originals[i]!.data, full[i]!.data);
      const report: DrawReport = {
        file: chunk[i]!.file, goal: goalName(a.goal, tags), objective: objectiveName(objective), applies: a.applies, before: a.before.probability,
        model: { ...judged(victim, a.applies ? a.outcome : none), linf: r3(linf), l2: r3(l2), loss: r3(a.loss), steps: a.steps, queries: a.queries },
        fullSize: { ...judged(victim, a.applies ? fullOutcome : none), linf: r3(fullNorms.linf), l2: r3(fullNorms.l2), width: full[i]!.width, height: full[i]!.height },
      };
      const r = { report, image: full[i]! };
      results.push(r);
      await onResult?.(r);
    }
  }
  return results;
}

/** The rates are means, over the attacked images, of the probability of success over the draw. */
export interface DrawSummary extends Pick<Summary, 'images' | 'attacked' | 'successRate' | 'strictRate' | 'fullSizeSuccessRate' | 'fullSizeStrictRate' | 'meanLinf' | 'meanFullSizeLinf'> {
  /** The same probability before the attack. */
  readonly cleanRate: number;
}

export function summariseDraw(reports: readonly DrawReport[]): DrawSummary {
  const att = reports.filter((r) => r.applies);
  const mean = (f: (r: DrawReport) => number) => (att.length ? att.reduce((a, r) => a + f(r), 0) / att.length : 0);
  return {
    images: reports.length, attacked: att.length,
    successRate: mean((r) => r.model.successProbability), strictRate: mean((r) => r.model.strictProbability),
    fullSizeSuccessRate: mean((r) => r.fullSize.successProbability), fullSizeStrictRate: mean((r) => r.fullSize.strictProbability),
    cleanRate: mean((r) => r.before), meanLinf: mean((r) => r.model.linf), meanFullSizeLinf: mean((r) => r.fullSize.linf),
  };
}
