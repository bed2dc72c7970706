import path from 'node:path';
import { isValidation } from '../../data/split.ts';
import { TagbooruError, invalidOption } from '../../errors.ts';
import { readBundle } from '../../infer/bundle.ts';
import { CALIBRATION_METHODS, uncalibrated } from '../../infer/calibration.ts';
import { CALIBRATE_DEFAULTS, calibratedManifest, fitCalibration, validateCalibrateOptions, writeCalibratedBundle } from '../../train/calibrate.ts';
import { computeCalibrationMetrics } from '../../train/calibration-metrics.ts';
import { choiceOption, defineCommand, numberOption } from '../command.ts';
import { labelledItems, scoreLabelled, type Labelled } from '../labelled-scores.ts';

/** train-project's own default (project.json's validation_fraction). */
const DEFAULT_VALIDATION_FRACTION = 0.05;
/** Fewer validation images than this calibrate nothing worth keeping. */
export const MIN_CALIBRATION_IMAGES = 50;

export const calibrateCommand = defineCommand({
  name: 'calibrate',
  usage: 'calibrate <bundle> <training.sqlite | folder with .txt sidecars> [--method temperature|platt|isotonic] [--validation-fraction 0.05] [--out <dir>]',
  options: {
    method: { type: 'string', placeholder: CALIBRATION_METHODS.join('|'), description: 'per-tag temperature of the logit, Platt scaling (a·z + b) or isotonic regression', default: CALIBRATE_DEFAULTS.method },
    global: { type: 'boolean', description: 'one temperature for every tag instead of one per tag (implies --method temperature)' },
    'validation-fraction': { type: 'string', placeholder: '(0–1]', description: 'the split fitted on, chosen by post id as train-project chooses it (default: the fraction the bundle records, else 0.05; 1: the whole database is a calibration set)' },
    'min-positives': { type: 'string', placeholder: 'n', description: 'positives (and negatives) a tag needs in the split to be calibrated; the others are left as they are', default: String(CALIBRATE_DEFAULTS.minPositives) },
    out: { type: 'string', short: 'o', placeholder: 'dir', description: 'write the calibrated bundle here (a copy) instead of in place' },
    'batch-size': { type: 'string', placeholder: 'n', description: 'images per inference batch', default: '16' },
  },
  details: 'Only the posts of the database\'s validation split are read (never the others: give the database the model was trained on and its training images stay unseen, or a dedicated calibration set with --validation-fraction 1). ' +
    'A folder is a calibration set as a whole: every image with a caption sidecar (the tags it lists are positives, every other tag a negative), e.g. a few hundred of your own images in a style the model never saw. ' +
    'Writes a `calibration` entry in tagger.json, applied to every score the bundle gives, and re-fits each calibrated tag\'s threshold for F1 on the calibrated scores. See docs/calibration.md.',

  async run({ values: v, positionals }, io) {
    const [dir, data] = positionals;
    if (!dir || !data || positionals.length > 2) throw new TagbooruError('E_USAGE', `calibrate: usage: tagbooru ${this.usage}`);
    const method = choiceOption('method', v.method, CALIBRATION_METHODS) ?? (v.global ? 'temperature' : CALIBRATE_DEFAULTS.method);
    const minPositives = numberOption('min-positives', v['min-positives'], 1, 1e9, true) ?? CALIBRATE_DEFAULTS.minPositives;
    const batchSize = numberOption('batch-size', v['batch-size'], 1, 4096, true) ?? 16;
    const options = { method, global: v.global, minPositives };
    validateCalibrateOptions(options);
    const bundle = await readBundle(dir);
    const { items, folder, provenance } = await fittingSet(data, v['validation-fraction'], bundle.manifest.provenance, io.stdin, 'calibration');
    // fitted on the model's own scores: a calibration already in the bundle is replaced, not stacked
    const raw = uncalibrated(bundle.manifest);
    const scored = await scoreLabelled({ ...bundle, manifest: raw }, items, io, batchSize);
    if (scored.images < MIN_CALIBRATION_IMAGES) throw new TagbooruError('E_USAGE', `only ${scored.images} of the ${items.length} validation images could be read; calibration needs at least ${MIN_CALIBRATION_IMAGES}`);
    const names = raw.tags.map((t) => t.name);
    const mask = scored.mask ?? undefined;
    const fit = fitCalibration(scored.probs, scored.labels, mask, names, options);
    const calibrated = names.length - fit.uncalibrated.length;
    if (calibrated === 0) throw new TagbooruError('E_USAGE', `no tag has ${minPositives} positives and ${minPositives} negatives among the ${scored.images} ${folder ? 'captioned images; caption more of them' : 'validation images; raise --validation-fraction'} or lower --min-positives`);

    const before = computeCalibrationMetrics(scored.probs, scored.labels, names.length, mask);
    const after = computeCalibrationMetrics(fit.probs, scored.labels, names.length, mask);
    const manifest = calibratedManifest(raw, method, fit, {
      createdBy: 'tagbooru calibrate', ...provenance, images: scored.images,
      minPositives, ...(v.global && { global: true }), date: new Date().toISOString(),
    });
    const written = await writeCalibratedBundle(bundle, manifest, v.out);
    const f = (x: number) => x.toFixed(4);
    io.stdout.write(`${written}: ${method}${v.global ? ' (global)' : ''} calibration of ${calibrated} of ${names.length} tags on ${scored.images} ${folder ? 'captioned' : 'validation'} images` +
      `${fit.uncalibrated.length ? `; ${fit.uncalibrated.length} left uncalibrated (fewer than ${minPositives} positives or negatives)` : ''}\n` +
      `on those images: ECE macro ${f(before.eceMacro)} → ${f(after.eceMacro)}, Brier micro ${f(before.brierMicro)} → ${f(after.brierMicro)}; ${Object.keys(fit.thresholds).length} thresholds re-fitted\n`);
    return scored.failed > 0 ? 1 : 0;
  },
});

/** The labelled images a fit reads, and how tagger.json records where they came from. */
export interface FittingSet {
  readonly items: Labelled[];
  readonly folder: boolean;
  readonly provenance: { readonly folder: string } | { readonly database: string; readonly validationFraction: number };
}

/**
 * A database's validation split (at --validation-fraction, else the fraction the bundle records, else 0.05), or
 * a folder's captioned images as a whole; fewer than MIN_CALIBRATION_IMAGES is refused with what to do. `fit`
 * names the fit in errors.
 */
export async function fittingSet(data: string, fractionFlag: string | undefined, provenance: Readonly<Record<string, unknown>>, stdin: NodeJS.ReadableStream, fit: string): Promise<FittingSet> {
  const explicit = validationFraction(fractionFlag);
  const fraction = explicit ?? (provenance.validation as { fraction?: number } | undefined)?.fraction ?? DEFAULT_VALIDATION_FRACTION;
  const { items, folder } = await labelledItems(data, (id) => isValidation(id, fraction), stdin);
  if (folder && explicit !== undefined) throw new TagbooruError('E_USAGE', `--validation-fraction splits a training database; the folder ${data} is a fitting set as a whole (every image with a caption sidecar)`);
  if (items.length < MIN_CALIBRATION_IMAGES) {
    throw new TagbooruError('E_USAGE', folder
      ? `${data} holds ${items.length} images with a caption sidecar (name.txt beside name.png); ${fit} needs at least ${MIN_CALIBRATION_IMAGES}: caption more of them`
      : `the validation split of ${data} at --validation-fraction ${fraction} holds ${items.length} images; ${fit} needs at least ${MIN_CALIBRATION_IMAGES}: raise --validation-fraction (1 makes the whole database a fitting set) or add images`);
  }
  return { items, folder, provenance: folder ? { folder: shortPath(data) } : { database: shortPath(data), validationFraction: fraction } };
}

/** (0, 1]: 0 would fit on nothing, 1 takes every post (a dedicated calibration set). */
export function validationFraction(raw: string | undefined): number | undefined {
  const v = numberOption('validation-fraction', raw, 0, 1);
  if (v === 0) throw invalidOption('--validation-fraction', 'a number above 0 and at most 1', raw);
  return v;
}

/** The database's (or a folder's) parent folder and name: enough to tell which set it was, without the machine's paths (tagger.json is served to browsers). */
export function shortPath(file: string): string {
  const abs = path.resolve(file);
  return `${path.basename(path.dirname(abs))}/${path.basename(abs)}`;
}
