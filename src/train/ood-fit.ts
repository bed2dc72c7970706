/**
 * Fitting a bundle's out-of-distribution scores (src/infer/ood.ts) on in-distribution images: the pooled
 * features' mean and shrunk covariance for `mahalanobis` (raw and L2-normalised), the bank of normalised
 * features and its k for `knn`, and for every score the threshold that flags at most `flagRate` of a
 * validation set the fit never saw. Also AUROC, the figure the scores are judged by.
 */
import path from 'node:path';
import { writeAtomic } from '../atomic-files.ts';
import { InvariantError, TagbooruError } from '../errors.ts';
import { MANIFEST, type Bundle, type BundleManifest } from '../infer/bundle.ts';
import { OOD_FILE, OOD_TENSORS, normalised, scoreOf, type MahalanobisParameters, type OodInputs, type OodManifest, type OodMethod, type OodParameters } from '../infer/ood.ts';
import { BaseTagger, openTaggerSession } from '../infer/tagger.ts';
import { encodeSafetensors, type TensorEntry } from '../formats/safetensors.ts';
import { chooseK, fitKnnBank } from './knn-fit.ts';

/** Share of the covariance replaced by its mean variance times I: 512 features from ~1,000 images need it. */
export const DEFAULT_SHRINKAGE = 0.1;
export const DEFAULT_FLAG_RATE = 0.02;
/** Rows of the knn bank at most: 1,000 × 512 float32 features are 2 MB of the bundle. */
export const DEFAULT_BANK_SIZE = 1000;

/**
 * The smallest score t such that at most `flagRate` of `scores` lie above it (flagged is score > t): the
 * ⌈(1 − r)·n⌉-th smallest score, the 98th percentile for r = 0.02.
 */
export function thresholdAt(scores: readonly number[], flagRate: number): number {
  if (scores.length === 0) throw new TagbooruError('E_USAGE', 'no in-distribution scores to fit a threshold on');
  const sorted = [...scores].sort((a, b) => a - b);
  const k = Math.max(1, Math.ceil((1 - flagRate) * sorted.length - 1e-9));
  return sorted[k - 1]!;
}

/**
 * Area under the ROC curve for telling `outside` (positives) from `inside` by score: the probability that a
 * random outside image scores above a random inside one, ties counting one half (Mann–Whitney U with mid-ranks).
 */
export function auroc(inside: readonly number[], outside: readonly number[]): number {
  if (inside.length === 0 || outside.length === 0) throw new TagbooruError('E_USAGE', 'AUROC needs scores on both sides');
  const all = [...inside.map((s) => ({ s, out: false })), ...outside.map((s) => ({ s, out: true }))].sort((a, b) => a.s - b.s);
  let rankSum = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j]!.s === all[i]!.s) j++;
    const midRank = (i + 1 + j) / 2; // ranks i+1 … j share their mean
    for (let k = i; k < j; k++) if (all[k]!.out) rankSum += midRank;
    i = j;
  }
  const m = outside.length, n = inside.length;
  return (rankSum - (m * (m + 1)) / 2) / (m * n);
}

/** Cholesky factor L of a symmetric positive definite n×n matrix (row-major, float64). */
function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      if (i === j) {
        if (!(s > 0)) throw new TagbooruError('E_USAGE', 'the feature covariance is not positive definite; raise the shrinkage');
        l[i * n + i] = Math.sqrt(s);
      } else l[i * n + j] = s / l[j * n + j]!;
    }
  }
  return l;
}

/** L⁻¹ of a lower triangular matrix, by forward substitution column by column. */
function invertLower(l: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  for (let col = 0; col < n; col++) {
    for (let i = col; i < n; i++) {
      let s = i === col ? 1 : 0;
      for (let k = col; k < i; k++) s -= l[i * n + k]! * inv[k * n + col]!;
      inv[i * n + col] = s / l[i * n + i]!;
    }
  }
  return inv;
}

/**
 * Mean and whitening matrix of the features: Σ̂ = (1 − α)·S + α·(tr S / C)·I with S the sample covariance,
 * then W = L⁻¹ for Σ̂ = L Lᵀ, so ‖W(f − μ)‖ is the Mahalanobis distance.
 */
export function fitMahalanobis(features: readonly ArrayLike<number>[], shrinkage = DEFAULT_SHRINKAGE): MahalanobisParameters {
  const n = features.length, c = features[0]?.length ?? 0;
  if (n < 2 || c === 0) throw new TagbooruError('E_USAGE', `fitting a covariance needs at least 2 feature vectors but received ${n}`);
  if (!(shrinkage > 0 && shrinkage <= 1) && !(shrinkage === 0 && n > c)) throw new TagbooruError('E_USAGE', `Expected a shrinkage in (0, 1] (0 only with more images than the ${c} features) but received ${shrinkage}`);
  const mean = new Float64Array(c);
  for (const f of features) for (let i = 0; i < c; i++) mean[i] = mean[i]! + f[i]! / n;
  const cov = new Float64Array(c * c);
  const d = new Float64Array(c);
  for (const f of features) {
    for (let i = 0; i < c; i++) d[i] = f[i]! - mean[i]!;
    for (let i = 0; i < c; i++) {
      const di = d[i]!, row = i * c;
      for (let j = 0; j <= i; j++) cov[row + j] = cov[row + j]! + di * d[j]!;
    }
  }
  let trace = 0;
  for (let i = 0; i < c; i++) trace += cov[i * c + i]! / (n - 1);
  for (let i = 0; i < c; i++) {
    for (let j = 0; j <= i; j++) {
      const v = (1 - shrinkage) * (cov[i * c + j]! / (n - 1)) + (i === j ? (shrinkage * trace) / c : 0);
      cov[i * c + j] = v;
      cov[j * c + i] = v;
    }
  }
  return { mean: Float32Array.from(mean), whiten: Float32Array.from(invertLower(cholesky(cov, c), c)) };
}

export interface OodFit {
  readonly method: OodMethod;
  readonly flagRate: number;
  readonly thresholds: Partial<Record<OodMethod, number>>;
  readonly params: OodParameters;
  readonly provenance: Readonly<Record<string, unknown>>;
}

/** The tensors of ood.safetensors for the fitted parameters (OOD_TENSORS names them). */
function oodTensors(params: OodParameters): Map<string, TensorEntry> {
  const tensors = new Map<string, TensorEntry>();
  for (const method of ['mahalanobis', 'mahalanobis-l2'] as const) {
    const fit = params[method];
    if (!fit) continue;
    const c = fit.mean.length, names = OOD_TENSORS[method];
    tensors.set(names.mean, { data: fit.mean, shape: [c] }).set(names.whiten, { data: fit.whiten, shape: [c, c] });
  }
  if (params.knn) {
    const { bank, rows } = params.knn;
    tensors.set(OOD_TENSORS.bank, { data: bank, shape: [rows, bank.length / rows] });
  }
  return tensors;
}

/** Write the fit into the bundle: ood.safetensors first, tagger.json last. */
export async function writeOodFit(bundle: Bundle, fit: OodFit): Promise<BundleManifest> {
  if (fit.thresholds[fit.method] === undefined) throw new InvariantError(`no threshold fitted for ${fit.method}`);
  const tensors = oodTensors(fit.params);
  if (tensors.size > 0) await writeAtomic(path.join(bundle.dir, OOD_FILE), encodeSafetensors(tensors, { format: 'tagbooru-ood' }));
  const ood: OodManifest = {
    method: fit.method,
    flagRate: fit.flagRate,
    thresholds: fit.thresholds,
    ...(tensors.size > 0 && { file: OOD_FILE }),
    ...(fit.params.knn && { k: fit.params.knn.k }),
    provenance: fit.provenance,
  };
  const manifest: BundleManifest = { ...bundle.manifest, ood };
  await writeAtomic(path.join(bundle.dir, MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`);
  return manifest;
}

/** The OOD inputs (logits, pooled features) of each image, in order; an image that fails to decode is an error. */
export async function collectOodInputs(bundle: Bundle, files: readonly string[], onDone?: (done: number) => void): Promise<OodInputs[]> {
  const tagger = new BaseTagger(await openTaggerSession(bundle, { oodOutputs: true })); // tagging only: no explainer
  const out: OodInputs[] = [];
  try {
    for await (const r of tagger.stream(files, { oodInputs: true, batchSize: 16 })) {
      if (r.error !== null || !r.oodInputs) throw new TagbooruError('E_IMAGE', `${r.file}: ${r.error ?? 'no OOD outputs'}`);
      out.push(r.oodInputs);
      onDone?.(out.length);
    }
  } finally {
    await tagger.close();
  }
  return out;
}

export interface OodFitOptions {
  readonly method?: OodMethod;
  readonly flagRate?: number;
  readonly shrinkage?: number;
  /** Rows of the knn bank at most (evenly spaced through the fitting images). */
  readonly bankSize?: number;
  /** The knn neighbour; chosen on the validation images when absent (knn-fit.ts's chooseK). */
  readonly k?: number;
}

/**
 * Fit every score the model allows on `inputs`: each fifth image is held out as the validation set the
 * thresholds (and knn's k) are taken from; the Mahalanobis fits and the knn bank never see it, so its scores
 * are those of new images.
 */
export function fitOod(inputs: readonly OodInputs[], options: OodFitOptions = {}): OodFit {
  const { flagRate = DEFAULT_FLAG_RATE, shrinkage = DEFAULT_SHRINKAGE, bankSize = DEFAULT_BANK_SIZE } = options;
  const fitting = inputs.filter((_, i) => i % 5 !== 4), validation = inputs.filter((_, i) => i % 5 === 4);
  if (validation.length < 10) throw new TagbooruError('E_USAGE', `fitting an OOD threshold needs at least 50 images (a fifth is the validation set) but received ${inputs.length}`);
  const hasFeatures = inputs.every((x) => x.features);
  const method = options.method ?? (hasFeatures ? 'mahalanobis-l2' : 'energy');
  if (method !== 'energy' && !hasFeatures) throw new TagbooruError('E_USAGE', `--method ${method} needs the pooled features, which this model does not expose; use --method energy`);
  const thresholdOf = (m: OodMethod, params: OodParameters) => thresholdAt(validation.map((x) => scoreOf(m, x, params)), flagRate);
  const thresholds: Partial<Record<OodMethod, number>> = { energy: thresholdOf('energy', {}) };
  if (!hasFeatures) return { method, flagRate, thresholds, params: {}, provenance: provenanceOf(fitting.length, validation.length, flagRate, {}) };

  const features = fitting.map((x) => x.features!), validationFeatures = validation.map((x) => x.features!);
  const bank = fitKnnBank(features, bankSize);
  const choice = chooseK(bank, validationFeatures, flagRate, options.k);
  const params: OodParameters = {
    mahalanobis: fitMahalanobis(features, shrinkage),
    'mahalanobis-l2': fitMahalanobis(features.map(normalised), shrinkage),
    knn: { ...bank, k: choice.k },
  };
  for (const m of ['mahalanobis', 'mahalanobis-l2', 'knn'] as const) thresholds[m] = thresholdOf(m, params);
  const knn = { bank: bank.rows, k: choice.k, kChosenBy: choice.why };
  return { method, flagRate, thresholds, params, provenance: provenanceOf(fitting.length, validation.length, flagRate, { shrinkage, knn }) };
}

function provenanceOf(fitImages: number, validationImages: number, flagRate: number, more: Record<string, unknown>): Record<string, unknown> {
  return { fitImages, validationImages, ...more, threshold: `${100 * (1 - flagRate)}th percentile of the validation scores` };
}
