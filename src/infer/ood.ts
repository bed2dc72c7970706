/**
 * Out-of-distribution scores: how far an image lies from what the model was trained on. Higher is more
 * foreign; an image is flagged when its score exceeds the threshold fitted on in-distribution images
 * (src/train/ood-fit.ts). Two scores:
 * - `energy`: minus the JointEnergy of Wang et al. 2021 (multi-label), −Σ_i log(1 + e^{z_i}) over the logits;
 * - `mahalanobis`: the Mahalanobis distance of the pooled features from their training mean, √‖W(f − μ)‖²
 *   with W = L⁻¹ for the (shrunk) covariance Σ = L Lᵀ, kept in the bundle's ood.safetensors.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagbooruError } from '../errors.ts';
import { decodeSafetensors } from '../formats/safetensors.ts';
import type { Bundle } from './bundle.ts';
import { roundScore } from './rounding.ts';
import { oodVariant, type OodVariant } from './ood-graph.ts';

export const OOD_METHODS = ['energy', 'mahalanobis'] as const;
export type OodMethod = (typeof OOD_METHODS)[number];
export const OOD_FILE = 'ood.safetensors';

/** tagger.json's `ood`: the score applied, and every fitted score's threshold. */
export interface OodManifest {
  readonly method: OodMethod;
  /** The share of in-distribution validation images each threshold flags at most. */
  readonly flagRate: number;
  readonly thresholds: Partial<Record<OodMethod, number>>;
  /** mean [C] and whiten [C, C] for `mahalanobis`. */
  readonly file?: string;
  readonly provenance?: Readonly<Record<string, unknown>>;
}

export interface OodResult {
  readonly score: number;
  readonly threshold: number;
  readonly flagged: boolean;
}

export interface MahalanobisParameters {
  readonly mean: Float32Array;
  /** Row-major C×C, lower triangular: L⁻¹ for Σ = L Lᵀ. */
  readonly whiten: Float32Array;
}

const softplus = (z: number) => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));

/** −JointEnergy: −Σ log(1 + e^{z}). */
export function energyScore(logits: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < logits.length; i++) s += softplus(logits[i]!);
  return -s;
}

/** Logits from probabilities, for graphs whose logits are not a value of their own. */
export function logitsOf(probs: ArrayLike<number>): Float64Array {
  const eps = 1e-7;
  return Float64Array.from({ length: probs.length }, (_, i) => {
    const p = Math.min(1 - eps, Math.max(eps, probs[i]!));
    return Math.log(p) - Math.log1p(-p);
  });
}

export function mahalanobisScore(features: ArrayLike<number>, { mean, whiten }: MahalanobisParameters): number {
  const c = mean.length;
  if (features.length !== c) throw new TagbooruError('E_MODEL', `the model gives ${features.length} pooled features but the OOD fit has ${c}`);
  const d = Float64Array.from({ length: c }, (_, i) => features[i]! - mean[i]!);
  let sum = 0;
  for (let i = 0; i < c; i++) {
    let y = 0;
    const row = i * c;
    for (let j = 0; j <= i; j++) y += whiten[row + j]! * d[j]!;
    sum += y * y;
  }
  return Math.sqrt(sum);
}

export function judge(score: number, threshold: number): OodResult {
  return { score, threshold, flagged: score > threshold };
}

/** The `ood` field of the CLI's and the server's JSON, four decimals like the tag scores. */
export function oodJson(o: OodResult): OodResult {
  return { score: roundScore(o.score), threshold: roundScore(o.threshold), flagged: o.flagged };
}

export async function readMahalanobis(dir: string, file: string): Promise<MahalanobisParameters> {
  const where = path.join(dir, file);
  const { tensors } = decodeSafetensors(new Uint8Array(await fs.readFile(where)), where);
  const mean = tensors.get('mean'), whiten = tensors.get('whiten');
  const c = mean?.data.length ?? 0;
  if (!mean || whiten?.data.length !== c * c) throw new TagbooruError('E_BUNDLE', `${where} must hold mean [C] and whiten [C, C]`);
  return { mean: mean.data, whiten: whiten.data };
}

/** What a tagger needs to score images: the variant model and, when the bundle has a fit, the score applied. */
export interface OodProbe {
  readonly variant: OodVariant;
  readonly fit: { readonly method: OodMethod; readonly threshold: number; readonly mahalanobis: MahalanobisParameters | null } | null;
}

/** The values the scores read, for one image. */
export interface OodInputs {
  readonly logits: Float64Array | Float32Array;
  readonly features: Float32Array | null;
}

export function scoreOf(method: OodMethod, inputs: OodInputs, mahalanobis: MahalanobisParameters | null): number {
  if (method === 'energy') return energyScore(inputs.logits);
  if (!inputs.features || !mahalanobis) throw new TagbooruError('E_BUNDLE', 'the bundle\'s OOD score is mahalanobis but the pooled features or the fit (ood.safetensors) are missing');
  return mahalanobisScore(inputs.features, mahalanobis);
}

/**
 * The probe for a bundle: with `always`, also for a bundle without a fit (fit-ood and ood-eval read both
 * scores' inputs); otherwise null when the bundle has no `ood`.
 */
export async function openOodProbe(bundle: Bundle, always = false): Promise<OodProbe | null> {
  const { manifest } = bundle;
  const ood = manifest.ood;
  if (!ood && !always) return null;
  if (manifest.ensemble || manifest.tta) {
    // the logits and pooled features would be one member's or one view's, not what the bundle answers with
    throw new TagbooruError('E_USAGE', `${bundle.dir} is ${manifest.ensemble ? `an ensemble (${manifest.ensemble.members.length} members)` : 'a test-time-augmented bundle'}: out-of-distribution scores are fitted on single models only; fit one on a member bundle instead`);
  }
  const variant = oodVariant(new Uint8Array(await fs.readFile(bundle.modelPath)), manifest.output.name);
  if (!ood) return { variant, fit: null };
  const threshold = ood.thresholds[ood.method];
  if (threshold === undefined) throw new TagbooruError('E_BUNDLE', `${bundle.dir}: tagger.json's ood.method is ${ood.method} but ood.thresholds has no ${ood.method}`);
  let mahalanobis: MahalanobisParameters | null = null;
  if (ood.method === 'mahalanobis') {
    if (!variant.features) throw new TagbooruError('E_BUNDLE', `${bundle.dir}: the OOD score is mahalanobis but the pooled features cannot be found: ${variant.featuresError}`);
    mahalanobis = await readMahalanobis(bundle.dir, ood.file ?? OOD_FILE);
  }
  return { variant, fit: { method: ood.method, threshold, mahalanobis } };
}

/** The stderr note `tag` prints for a flagged image. */
export function oodNote(file: string, ood: OodResult): string {
  return `note: ${file} is unlike the images the model was trained on (out-of-distribution score ${ood.score.toFixed(2)} > ${ood.threshold.toFixed(2)}); its tags are unreliable`;
}
