/**
 * `tagbooru tta --tta tiles=… --fit <database | folder>`: the tiled bundle's combination fitted on the validation
 * split of a labelled database (never its other posts) or on a folder's captioned images. One pass of the tile
 * probe (src/compose/tta.ts) over those images gives the whole image's score and the best tile's, and
 * src/train/tile-fit.ts fits the per-tag weights and thresholds on the two.
 */
import { TagbooruError } from '../errors.ts';
import type { MemberSource } from '../compose/ensemble.ts';
import { resolvedThreshold } from '../compose/thresholds.ts';
import { tileProbe, type TtaOptions, type TileFit } from '../compose/tta.ts';
import { isWholeImageTag } from '../compose/whole-image-tags.ts';
import { uncalibrated } from '../infer/calibration.ts';
import { fitTileCombination } from '../train/tile-fit.ts';
import { computeMetrics } from '../train/metrics.ts';
import type { Io } from './command.ts';
import { MIN_CALIBRATION_IMAGES, fittingSet } from './commands/calibrate.ts';
import { scoreLabelled } from './labelled-scores.ts';

export interface TileFitOptions {
  /** A training database (its validation split is fitted on) or a folder of captioned images. */
  readonly data: string;
  /** --validation-fraction as given (a database's split; else the fraction the bundle records, else 0.05). */
  readonly fraction: string | undefined;
  readonly minPositives: number;
  readonly batchSize: number;
}

/** The fit and the thresholds it re-fitted, for `source` (its calibration, if any, left out: the fit replaces it). */
export async function fitTiles(source: MemberSource, tta: TtaOptions, o: TileFitOptions, io: Io): Promise<{ fit: TileFit; thresholds: Record<string, number> }> {
  if (!tta.tiles) throw new TagbooruError('E_USAGE', '--fit fits tiled test-time augmentation: add tiles=… to --tta');
  const { items, folder, provenance } = await fittingSet(o.data, o.fraction, source.manifest.provenance, io.stdin, 'fitting tiles');
  const kind = folder ? 'captioned' : 'validation';
  const manifest = uncalibrated(source.manifest);
  const names = manifest.tags.map((t) => t.name), T = names.length;
  io.stderr.write(`scoring ${items.length} ${kind} images: the whole image and its tiles\n`);
  const probe = tileProbe(manifest, source.model, tta, source.where);
  const scored = await scoreLabelled({ dir: source.where, manifest: probe.manifest, modelPath: '', model: probe.model }, items, io, o.batchSize);
  if (scored.images < MIN_CALIBRATION_IMAGES) throw new TagbooruError('E_USAGE', `only ${scored.images} of the ${items.length} ${kind} images could be read; fitting tiles needs at least ${MIN_CALIBRATION_IMAGES}`);
  // the probe's rows are [the whole image's T scores, the best tile's T]; the labels are the first half's
  const half = (data: Float32Array, from: number) => Float32Array.from({ length: scored.images * T }, (_, k) => data[Math.floor(k / T) * 2 * T + from + (k % T)]!);
  const whole = { probs: half(scored.probs, 0), labels: half(scored.labels, 0), mask: scored.mask && half(scored.mask, 0) };
  const tileProbs = half(scored.probs, T);
  const wholeImage = new Set(manifest.tags.filter(isWholeImageTag).map((t) => t.name));
  const result = fitTileCombination(whole.probs, tileProbs, whole.labels, whole.mask, names, wholeImage, o.minPositives);
  const own = manifest.tags.map((t) => resolvedThreshold(manifest.thresholds, t));
  const before = computeMetrics(whole.probs, whole.labels, names, own, whole.mask);
  const after = computeMetrics(result.probs, whole.labels, names, names.map((t, j) => result.thresholds[t] ?? own[j]!), whole.mask);
  io.stderr.write(`fitted ${Object.keys(result.tags).length} of ${names.length} tags on ${scored.images} ${kind} images` +
    `${result.unfitted.length ? ` (${result.unfitted.length} with fewer than ${o.minPositives} positives or negatives keep the highest score)` : ''}; ` +
    `there, mAP ${before.mAP.toFixed(4)} → ${after.mAP.toFixed(4)}, macro-F1 ${before.macroF1.toFixed(4)} → ${after.macroF1.toFixed(4)} (the whole image alone → tiled)\n`);
  const fit: TileFit = { tags: result.tags, provenance: { createdBy: 'tagbooru tta --fit', ...provenance, images: scored.images, minPositives: o.minPositives, date: new Date().toISOString() } };
  return { fit, thresholds: result.thresholds };
}
