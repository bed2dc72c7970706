/**
 * `tagbooru tta --tta tiles=… --fit <database>`: the tiled bundle's combination fitted on the validation split of
 * a labelled database (never its other posts). The bundle is run twice over those images, once answering with
 * the whole image's score and once with the highest tile's (the same graph, its weights set to pick one or the
 * other), and src/train/tile-fit.ts fits the per-tag weights and thresholds on the two.
 */
import { isValidation } from '../data/split.ts';
import { TagbooruError } from '../errors.ts';
import type { BundleManifest } from '../infer/bundle.ts';
import { resolvedThreshold } from '../compose/thresholds.ts';
import { withTta, type TtaOptions, type TileFit } from '../compose/tta.ts';
import { isWholeImageTag } from '../compose/whole-image-tags.ts';
import { uncalibrated } from '../infer/calibration.ts';
import { fitTileCombination } from '../train/tile-fit.ts';
import { computeMetrics } from '../train/metrics.ts';
import type { Io } from './command.ts';
import { MIN_CALIBRATION_IMAGES, shortPath } from './commands/calibrate.ts';
import { databaseItems, scoreLabelled } from './labelled-scores.ts';

export interface TileFitOptions {
  readonly database: string;
  readonly fraction: number;
  readonly minPositives: number;
  readonly batchSize: number;
}

/** The fit and the thresholds it re-fitted, for `source` (its calibration, if any, left out: the fit replaces it). */
export async function fitTiles(source: { dir: string; manifest: BundleManifest; model: Uint8Array }, tta: TtaOptions, o: TileFitOptions, io: Io): Promise<{ fit: TileFit; thresholds: Record<string, number> }> {
  const tiles = tta.tiles;
  if (!tiles) throw new TagbooruError('E_USAGE', '--fit fits tiled test-time augmentation: add tiles=… to --tta');
  const items = databaseItems(o.database, (id) => isValidation(id, o.fraction));
  if (items.length < MIN_CALIBRATION_IMAGES) {
    throw new TagbooruError('E_USAGE', `the validation split of ${o.database} at --validation-fraction ${o.fraction} holds ${items.length} images; fitting tiles needs at least ${MIN_CALIBRATION_IMAGES}: raise --validation-fraction (1 makes the whole database a fitting set) or add images`);
  }
  const manifest = uncalibrated(source.manifest);
  const names = manifest.tags.map((t) => t.name);
  // weights [1, 0, 0] answer with the whole image's score, [0, 1, 0] with the highest tile's
  const picking = (k: 0 | 1): TileFit => ({ tags: Object.fromEntries(names.map((t) => [t, k === 0 ? [1, 0, 0] : [0, 1, 0]])), provenance: {} });
  const scoreWith = async (k: 0 | 1, what: string) => {
    io.stderr.write(`scoring ${items.length} validation images: ${what}\n`);
    const built = withTta(manifest, source.model, { ...tta, tiles: { ...tiles, fit: picking(k) } }, source.dir);
    return scoreLabelled({ dir: source.dir, manifest: built.manifest, modelPath: '', model: built.model }, items, io, o.batchSize);
  };
  const whole = await scoreWith(0, 'the whole image'), tile = await scoreWith(1, 'the highest tile');
  if (whole.images < MIN_CALIBRATION_IMAGES || whole.images !== tile.images) throw new TagbooruError('E_USAGE', `only ${whole.images} of the ${items.length} validation images could be read; fitting tiles needs at least ${MIN_CALIBRATION_IMAGES}`);
  const wholeImage = new Set(manifest.tags.filter(isWholeImageTag).map((t) => t.name));
  const result = fitTileCombination(whole.probs, tile.probs, whole.labels, whole.mask, names, wholeImage, o.minPositives);
  const own = manifest.tags.map((t) => resolvedThreshold(manifest.thresholds, t));
  const before = computeMetrics(whole.probs, whole.labels, names, own, whole.mask);
  const after = computeMetrics(result.probs, whole.labels, names, names.map((t, j) => result.thresholds[t] ?? own[j]!), whole.mask);
  io.stderr.write(`fitted ${Object.keys(result.tags).length} of ${names.length} tags on ${whole.images} validation images` +
    `${result.unfitted.length ? ` (${result.unfitted.length} with fewer than ${o.minPositives} positives or negatives keep the highest score)` : ''}; ` +
    `there, mAP ${before.mAP.toFixed(4)} → ${after.mAP.toFixed(4)}, macro-F1 ${before.macroF1.toFixed(4)} → ${after.macroF1.toFixed(4)} (the whole image alone → tiled)\n`);
  const fit: TileFit = { tags: result.tags, provenance: { createdBy: 'tagbooru tta --fit', database: shortPath(o.database), validationFraction: o.fraction, images: whole.images, minPositives: o.minPositives, date: new Date().toISOString() } };
  return { fit, thresholds: result.thresholds };
}
