/**
 * `tagbooru calibrate`'s library half: per-tag calibrations fitted on a bundle's uncalibrated validation scores,
 * the per-tag thresholds re-fitted on the calibrated scores, and the calibrated bundle written.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeAtomic } from '../atomic-files.ts';
import { TagbooruError, expectNumberInRange } from '../errors.ts';
import { MANIFEST, type Bundle, type BundleManifest } from '../infer/bundle.ts';
import { calibrator, logit, type CalibrationManifest, type CalibrationMethod, type TagCalibration } from '../infer/calibration.ts';
import { roundScore } from '../infer/rounding.ts';
import { fitIsotonic, fitPlatt, fitTemperature } from './calibration-fit.ts';
import { fitThresholds } from './metrics.ts';

export interface CalibrateOptions {
  readonly method: CalibrationMethod;
  /** Temperature only: one T for every tag, fitted on all pairs together. */
  readonly global?: boolean;
  /** A tag needs this many known positives and as many known negatives to be calibrated. */
  readonly minPositives: number;
}

export const CALIBRATE_DEFAULTS = { method: 'platt', minPositives: 10 } as const satisfies CalibrateOptions;

export interface CalibrationFit {
  readonly tags: Record<string, TagCalibration>;
  /** Tags left as the model scores them, for too few positives or negatives. */
  readonly uncalibrated: string[];
  /** The validation scores after calibration, [samples × tags]. */
  readonly probs: Float32Array;
  /** Each calibrated tag's threshold, re-fitted for F1 on the calibrated scores. */
  readonly thresholds: Record<string, number>;
}

export function validateCalibrateOptions(o: CalibrateOptions): void {
  if (o.global && o.method !== 'temperature') throw new TagbooruError('E_USAGE', `--global fits one temperature for every tag; it does not apply to --method ${o.method}`);
  expectNumberInRange('minPositives', o.minPositives, 1, Number.MAX_SAFE_INTEGER, true);
}

/** Whether tag column j of [samples × tags] labels holds at least `minimum` known positives and as many known negatives: enough to fit on. */
export function hasEnoughOfBoth(labels: ArrayLike<number>, mask: ArrayLike<number> | undefined | null, tags: number, j: number, minimum: number): boolean {
  let pos = 0, neg = 0;
  for (let k = j; k < labels.length; k += tags) {
    if (mask && mask[k] === 0) continue;
    if (labels[k]! > 0.5) pos++;
    else neg++;
  }
  return pos >= minimum && neg >= minimum;
}

/**
 * `probs` are the bundle's uncalibrated probabilities, `labels` and `mask` (0: unknown) alike [samples × tags].
 * Parameters are fitted to the logit of each probability, as src/infer/calibration.ts applies them.
 */
export function fitCalibration(probs: Float32Array, labels: ArrayLike<number>, mask: ArrayLike<number> | undefined, names: readonly string[], o: CalibrateOptions): CalibrationFit {
  const T = names.length, n = probs.length / T;
  const z = Float64Array.from(probs, logit);
  const column = (data: ArrayLike<number>, j: number) => Float64Array.from({ length: n }, (_, i) => data[i * T + j]!);
  const weights = (j: number) => (mask ? column(mask, j) : undefined);
  const eligible = names.map((_, j) => hasEnoughOfBoth(labels, mask, T, j, o.minPositives));
  validateCalibrateOptions(o);
  const tags: Record<string, TagCalibration> = {};
  if (o.global) {
    const { temperature } = fitTemperature(z, labels, mask);
    for (const name of names) tags[name] = { temperature };
  } else {
    const fit = { temperature: fitTemperature, platt: fitPlatt, isotonic: fitIsotonic }[o.method];
    names.forEach((name, j) => {
      if (eligible[j]) tags[name] = fit(column(z, j), column(labels, j), weights(j));
    });
  }
  const out = Float32Array.from(probs);
  const calibrators = names.map((name) => (tags[name] ? calibrator(o.method, tags[name]) : null));
  for (let k = 0; k < out.length; k++) {
    const c = calibrators[k % T];
    if (c) out[k] = c(z[k]!);
  }
  const fitted = fitThresholds(out, labels, T, 0.5, mask);
  const thresholds: Record<string, number> = {};
  names.forEach((name, j) => {
    if (tags[name] && eligible[j]) thresholds[name] = roundScore(fitted[j]!);
  });
  return { tags, uncalibrated: names.filter((name) => !tags[name]), probs: out, thresholds };
}

/**
 * The uncalibrated `manifest` with the calibration and the re-fitted thresholds (a tag not re-fitted keeps its
 * own); the thresholds from before are kept in the provenance, for `metrics --uncalibrated` and a later re-fit.
 */
export function calibratedManifest(manifest: BundleManifest, method: CalibrationMethod, fit: CalibrationFit, provenance: Record<string, unknown>): BundleManifest {
  const calibration: CalibrationManifest = { method, tags: roundParameters(fit.tags), provenance: { ...provenance, uncalibrated: fit.uncalibrated, thresholds: manifest.thresholds } };
  const thresholds = { ...manifest.thresholds, tags: { ...manifest.thresholds.tags, ...fit.thresholds } };
  return { ...manifest, thresholds, calibration };
}

/** Seven significant digits: float32's precision, and a readable tagger.json. */
function roundParameters(tags: Record<string, TagCalibration>): Record<string, TagCalibration> {
  const r = (v: number) => Number(v.toPrecision(7));
  return Object.fromEntries(Object.entries(tags).map(([name, p]) => [name, Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Array.isArray(v) ? v.map(r) : r(v as number)])) as unknown as TagCalibration]));
}

/**
 * Writes `manifest` in place, or into `out` beside a copy of the bundle's other files. The manifest goes last
 * (atomically), so an interrupted copy never looks like a complete bundle.
 */
export async function writeCalibratedBundle(bundle: Bundle, manifest: BundleManifest, out?: string): Promise<string> {
  const dir = out ?? bundle.dir;
  if (out && path.resolve(out) !== path.resolve(bundle.dir)) {
    await fs.mkdir(out, { recursive: true });
    for (const entry of await fs.readdir(bundle.dir, { withFileTypes: true })) {
      if (entry.name === MANIFEST) continue;
      await fs.cp(path.join(bundle.dir, entry.name), path.join(out, entry.name), { recursive: true });
    }
  }
  await writeAtomic(path.join(dir, MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`);
  return dir;
}
