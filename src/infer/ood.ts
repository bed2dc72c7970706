/**
 * Out-of-distribution scores: how far an image lies from what the model was trained on. Higher is more
 * foreign; an image is flagged when its score exceeds the threshold fitted on in-distribution images
 * (src/train/ood-fit.ts). Three scores:
 * - `energy`: minus the JointEnergy of Wang et al. 2021 (multi-label), −Σ_i log(1 + e^{z_i}) over the logits;
 * - `mahalanobis`: the Mahalanobis distance of the pooled features from their training mean, √‖W(f − μ)‖²
 *   with W = L⁻¹ for the (shrunk) covariance Σ = L Lᵀ, kept in the bundle's ood.safetensors;
 * - `mahalanobis-l2`: the same of the L2-normalised features f / ‖f‖, with their own mean and covariance;
 * - `knn`: the distance of the L2-normalised pooled features to their k-th nearest neighbour in a bank of
 *   normalised in-distribution features (Sun et al., ICML 2022), the bank kept in ood.safetensors.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagbooruError } from '../errors.ts';
import { decodeSafetensors } from '../formats/safetensors.ts';
import type { Bundle } from './bundle.ts';
import { roundScore } from './rounding.ts';
import { oodVariant, type OodVariant } from './ood-graph.ts';

export const OOD_METHODS = ['energy', 'mahalanobis', 'mahalanobis-l2', 'knn'] as const;
export type OodMethod = (typeof OOD_METHODS)[number];
export const OOD_FILE = 'ood.safetensors';

/** tagger.json's `ood`: the score applied, and every fitted score's threshold. */
export interface OodManifest {
  readonly method: OodMethod;
  /** The share of in-distribution validation images each threshold flags at most. */
  readonly flagRate: number;
  readonly thresholds: Partial<Record<OodMethod, number>>;
  /** mean [C] and whiten [C, C] for `mahalanobis`, normalised_mean and normalised_whiten for `mahalanobis-l2`, bank [B, C] for `knn`. */
  readonly file?: string;
  /** Which neighbour's distance `knn` is (1 = the nearest); present when `knn` was fitted. */
  readonly k?: number;
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

export interface KnnParameters {
  /** Row-major B×C, each row an L2-normalised in-distribution feature vector. */
  readonly bank: Float32Array;
  /** B. */
  readonly rows: number;
  /** The neighbour whose distance is the score, 1 ≤ k ≤ B. */
  readonly k: number;
}

/** The fitted parameters of the feature scores, as ood.safetensors and tagger.json hold them (either may be absent). */
export interface OodParameters {
  readonly mahalanobis?: MahalanobisParameters;
  readonly 'mahalanobis-l2'?: MahalanobisParameters;
  readonly knn?: KnnParameters;
}

/** Each fitted parameter's tensor in ood.safetensors. */
export const OOD_TENSORS = {
  mahalanobis: { mean: 'mean', whiten: 'whiten' },
  'mahalanobis-l2': { mean: 'normalised_mean', whiten: 'normalised_whiten' },
  bank: 'bank',
} as const;

/** A zero feature vector (nothing activated) stays zero instead of dividing by zero; the graph clamps alike. */
export const NORM_FLOOR = 1e-12;

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

/** f / max(‖f‖, NORM_FLOOR), in float64. */
export function normalised(features: ArrayLike<number>): Float64Array {
  let sq = 0;
  for (let i = 0; i < features.length; i++) sq += features[i]! * features[i]!;
  const norm = Math.max(Math.sqrt(sq), NORM_FLOOR);
  return Float64Array.from({ length: features.length }, (_, i) => features[i]! / norm);
}

/**
 * The cosine similarities of the features to every bank row, largest first: for unit vectors the squared
 * distance is 2 − 2·similarity, so the k-th nearest row is the one of the k-th largest similarity.
 */
export function bankSimilarities(features: ArrayLike<number>, { bank, rows }: { readonly bank: Float32Array; readonly rows: number }): Float64Array {
  const c = features.length;
  if (c * rows !== bank.length) throw new TagbooruError('E_MODEL', `the model gives ${c} pooled features but the OOD fit's bank rows have ${bank.length / rows}`);
  const z = normalised(features);
  const sims = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    const at = r * c;
    for (let j = 0; j < c; j++) dot += z[j]! * bank[at + j]!;
    sims[r] = dot;
  }
  return sims.sort().reverse();
}

/** The distance between unit vectors of cosine similarity s, √(2 − 2s), kept real when rounding puts s above 1. */
export const unitDistance = (s: number): number => Math.sqrt(Math.max(0, 2 - 2 * s));

/** ‖z − b_(k)‖ for z the normalised features and b_(k) their k-th nearest bank row. */
export function knnScore(features: ArrayLike<number>, knn: KnnParameters): number {
  const sims = bankSimilarities(features, knn), { k } = knn;
  if (!(Number.isInteger(k) && k >= 1 && k <= sims.length)) throw new TagbooruError('E_BUNDLE', `the OOD fit's k must be an integer from 1 to its ${sims.length} bank rows but is ${k}`);
  return unitDistance(sims[k - 1]!);
}

export function judge(score: number, threshold: number): OodResult {
  return { score, threshold, flagged: score > threshold };
}

/** The `ood` field of the CLI's and the server's JSON, four decimals like the tag scores. */
export function oodJson(o: OodResult): OodResult {
  return { score: roundScore(o.score), threshold: roundScore(o.threshold), flagged: o.flagged };
}

/**
 * The fitted parameters in the bundle's ood.safetensors (OOD_TENSORS), each when the file has it; the bank
 * with tagger.json's `k`. Bundles from before `mahalanobis-l2` and `knn` hold only `mean` and `whiten`.
 */
export async function readOodParameters(dir: string, ood: OodManifest): Promise<OodParameters> {
  const file = ood.file ?? (ood.method === 'energy' ? null : OOD_FILE);
  if (!file) return {};
  const where = path.join(dir, file);
  const { tensors } = decodeSafetensors(new Uint8Array(await fs.readFile(where)), where);
  const gaussian = (names: { mean: string; whiten: string }): MahalanobisParameters | undefined => {
    const mean = tensors.get(names.mean), whiten = tensors.get(names.whiten);
    if (!mean && !whiten) return undefined;
    const c = mean?.data.length ?? 0;
    if (!mean || whiten?.data.length !== c * c) throw new TagbooruError('E_BUNDLE', `${where} must hold ${names.mean} [C] and ${names.whiten} [C, C]`);
    return { mean: mean.data, whiten: whiten.data };
  };
  const mahalanobis = gaussian(OOD_TENSORS.mahalanobis), normalisedFit = gaussian(OOD_TENSORS['mahalanobis-l2']);
  const bank = tensors.get(OOD_TENSORS.bank);
  let knn: KnnParameters | undefined;
  if (bank) {
    const [rows = 0] = bank.shape;
    if (bank.shape.length !== 2 || rows === 0) throw new TagbooruError('E_BUNDLE', `${where}: bank must be [B, C] but is [${bank.shape.join(', ')}]`);
    if (!(ood.k !== undefined && Number.isInteger(ood.k) && ood.k >= 1 && ood.k <= rows)) throw new TagbooruError('E_BUNDLE', `${where} holds a knn bank of ${rows} rows but tagger.json's ood.k is ${ood.k ?? 'missing'}; it must be an integer from 1 to ${rows}`);
    knn = { bank: bank.data, rows, k: ood.k };
  }
  return { ...(mahalanobis && { mahalanobis }), ...(normalisedFit && { 'mahalanobis-l2': normalisedFit }), ...(knn && { knn }) };
}

/** What a tagger needs to score images: the variant model and, when the bundle has a fit, the score applied. */
export interface OodProbe {
  readonly variant: OodVariant;
  readonly fit: { readonly method: OodMethod; readonly threshold: number; readonly params: OodParameters } | null;
}

/** The values the scores read, for one image. */
export interface OodInputs {
  readonly logits: Float64Array | Float32Array;
  readonly features: Float32Array | null;
}

export function scoreOf(method: OodMethod, inputs: OodInputs, params: OodParameters = {}): number {
  if (method === 'energy') return energyScore(inputs.logits);
  const { features } = inputs, fit = params[method];
  if (!features || !fit) throw new TagbooruError('E_BUNDLE', `the bundle's OOD score is ${method} but the pooled features or the fit (ood.safetensors) are missing`);
  if ('bank' in fit) return knnScore(features, fit);
  return mahalanobisScore(method === 'mahalanobis' ? features : normalised(features), fit);
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
  if (ood.method !== 'energy' && !variant.features) throw new TagbooruError('E_BUNDLE', `${bundle.dir}: the OOD score is ${ood.method} but the pooled features cannot be found: ${variant.featuresError}`);
  return { variant, fit: { method: ood.method, threshold, params: await readMethodParameters(bundle.dir, ood) } };
}

/** The parameters `ood.method` reads, checked to be there; energy reads none. */
export async function readMethodParameters(dir: string, ood: OodManifest): Promise<OodParameters> {
  if (ood.method === 'energy') return {};
  const params = await readOodParameters(dir, ood);
  if (!params[ood.method]) throw new TagbooruError('E_BUNDLE', `${dir}: tagger.json's ood.method is ${ood.method} but ${ood.file ?? 'its ood.file'} holds no ${ood.method} fit`);
  return params;
}

/** The stderr note `tag` prints for a flagged image. */
export function oodNote(file: string, ood: OodResult): string {
  return `note: ${file} is unlike the images the model was trained on (out-of-distribution score ${ood.score.toFixed(2)} > ${ood.threshold.toFixed(2)}); its tags are unreliable`;
}
