/**
 * Per-tag score calibration stored in `tagger.json` and applied wherever probabilities are produced (the
 * Node tagger, the explainers, the in-browser model), so every path sees the same calibrated scores.
 * Browser-safe: no Node imports. Every method maps the tag's logit z to a probability: a logits head's
 * raw output, or log(p / (1 − p)) of a sigmoid head's p. Fitting lives in src/train/calibration-fit.ts.
 */
import { TagbooruError } from '../errors.ts';
import type { BundleManifest } from './bundle.ts';

export const CALIBRATION_METHODS = ['temperature', 'platt', 'isotonic'] as const;
export type CalibrationMethod = (typeof CALIBRATION_METHODS)[number];

/** sigmoid(z / temperature). */
export interface TemperatureParameters {
  readonly temperature: number;
}
/** sigmoid(a·z + b). */
export interface PlattParameters {
  readonly a: number;
  readonly b: number;
}
/** A non-decreasing step function of z: breakpoints `x` (logits, ascending) and `y` (probabilities), linear between them, flat outside. */
export interface IsotonicParameters {
  readonly x: readonly number[];
  readonly y: readonly number[];
}
export type TagCalibration = TemperatureParameters | PlattParameters | IsotonicParameters;

export interface CalibrationManifest {
  readonly method: CalibrationMethod;
  /** By tag name; a tag not listed is left as the model scores it. */
  readonly tags: Readonly<Record<string, TagCalibration>>;
  /** Where and when it was fitted: database, validation fraction, images, date, tags left uncalibrated. */
  readonly provenance: Readonly<Record<string, unknown>>;
}

/** The manifest as it was before `calibrate`: no calibration, and the thresholds it had (kept in the calibration's provenance). */
export function uncalibrated(m: BundleManifest): BundleManifest {
  const { calibration, ...rest } = m;
  return { ...rest, thresholds: (calibration?.provenance.thresholds as BundleManifest['thresholds'] | undefined) ?? rest.thresholds };
}

/** A sigmoid head's probability as a logit; 2⁻²⁴ keeps float32's 0 and 1 finite. */
const EPS = 2 ** -24;
export const logit = (p: number) => {
  const q = Math.min(1 - EPS, Math.max(EPS, p));
  return Math.log(q) - Math.log1p(-q);
};
export const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** One tag's map from logit to probability. */
export type Calibrator = (z: number) => number;

export function calibrator(method: CalibrationMethod, p: TagCalibration): Calibrator {
  if (method === 'temperature') {
    const t = (p as TemperatureParameters).temperature;
    return (z) => sigmoid(z / t);
  }
  if (method === 'platt') {
    const { a, b } = p as PlattParameters;
    return (z) => sigmoid(a * z + b);
  }
  const { x, y } = p as IsotonicParameters;
  return (z) => interpolate(x, y, z);
}

/** Piecewise-linear through (x[i], y[i]), constant beyond the ends; x ascending. */
export function interpolate(x: readonly number[], y: readonly number[], z: number): number {
  const n = x.length;
  if (z <= x[0]!) return y[0]!;
  if (z >= x[n - 1]!) return y[n - 1]!;
  let lo = 0, hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (x[mid]! <= z) lo = mid;
    else hi = mid;
  }
  const span = x[hi]! - x[lo]!;
  return span === 0 ? y[hi]! : y[lo]! + ((z - x[lo]!) / span) * (y[hi]! - y[lo]!);
}

/** Checks the stored parameters against the method (a hand-edited or truncated tagger.json fails here, by name). */
export function validateCalibration(c: CalibrationManifest, tagNames: readonly string[], file: string): void {
  const fail = (what: string) => {
    throw new TagbooruError('E_BUNDLE', `${file}: calibration ${what}`);
  };
  if (!CALIBRATION_METHODS.includes(c.method)) fail(`method must be one of ${CALIBRATION_METHODS.join(', ')}, not ${JSON.stringify(c.method)}`);
  if (!c.tags || typeof c.tags !== 'object') fail('tags must be an object of tag name → parameters');
  const known = new Set(tagNames);
  const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  for (const [name, p] of Object.entries(c.tags)) {
    if (!known.has(name)) fail(`names ${name}, which is not one of the bundle's tags`);
    const ok = c.method === 'temperature' ? finite((p as TemperatureParameters).temperature) && (p as TemperatureParameters).temperature > 0
      : c.method === 'platt' ? finite((p as PlattParameters).a) && finite((p as PlattParameters).b)
        : isIsotonic(p as IsotonicParameters);
    if (!ok) fail(`of ${name} is not valid ${c.method} parameters: ${JSON.stringify(p).slice(0, 200)}`);
  }
}

function isIsotonic(p: IsotonicParameters): boolean {
  const { x, y } = p;
  if (!Array.isArray(x) || !Array.isArray(y) || x.length === 0 || x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]) || !(y[i]! >= 0 && y[i]! <= 1)) return false;
    if (i > 0 && (x[i]! < x[i - 1]! || y[i]! < y[i - 1]!)) return false;
  }
  return true;
}

/** Each tag's calibrator in bundle order (null: left as it is), built once per calibration object. */
const compiled = new WeakMap<CalibrationManifest, (Calibrator | null)[]>();

export function tagCalibrators(c: CalibrationManifest, tagNames: readonly string[]): (Calibrator | null)[] {
  let out = compiled.get(c);
  if (!out || out.length !== tagNames.length) {
    out = tagNames.map((name) => (Object.hasOwn(c.tags, name) ? calibrator(c.method, c.tags[name]!) : null));
    compiled.set(c, out);
  }
  return out;
}
