/**
 * How well a method's maps localise tags, against a dataset's ground-truth masks: the pointing game and mIoU
 * (localisation-metrics.ts), with the mask threshold chosen on a tuning split and reported on the rest.
 */
import fs from 'node:fs';
import path from 'node:path';
import { maskPath } from '../data/paths.ts';
import { isValidation } from '../data/split.ts';
import { TrainingDatabase } from '../data/training-db.ts';
import { TagbooruError } from '../errors.ts';
import { defined } from '../option-values.ts';
import { readMask } from '../image/mask.ts';
import { readBundle, type Bundle } from '../infer/bundle.ts';
import { BaseTagger, openTaggerSession } from '../infer/tagger.ts';
import { Explainer } from './explainer.ts';
import { accumulate, bestThreshold, newAccumulator, score, truthOnGrid, type LocalisationScore, type TagAccumulator, type TruthMask } from './localisation-metrics.ts';
import { isPlaceless } from './placeless.ts';
import type { ExplainMethod, ExplainRefinement, FloatMap } from './types.ts';

export interface MapsEvalOptions {
  readonly method?: ExplainMethod;
  readonly refine?: ExplainRefinement;
  /** cam: a finer map, this many input pixels per cell. */
  readonly mapStride?: number;
  /** Score the masks themselves on cells of this many pixels instead of a method: the best any map that coarse can do. */
  readonly ceiling?: number;
  /** Score only the first n images with masks. */
  readonly limit?: number;
  /** Only these tags. */
  readonly tags?: readonly string[];
  /** Pointing game: a peak this many pixels from the region still counts as a hit. */
  readonly tolerance?: number;
  /** The share of images (by id hash) used only to choose the mask threshold. */
  readonly tuneFraction?: number;
  readonly threads?: number;
  readonly onProgress?: (done: number, total: number) => void;
  /** An image that could not be explained; it is counted in `failed` and left out. */
  readonly onError?: (file: string, error: string) => void;
}

export const MAPS_EVAL_DEFAULTS = { method: 'cam', refine: 'none', tolerance: 15, tuneFraction: 0.3 } as const satisfies MapsEvalOptions;

export interface MapsEvalResult extends LocalisationScore {
  /** The database the masks came from. */
  readonly data: string;
  readonly images: number;
  readonly failed: number;
  /** Explain time per image (0 for a ceiling). */
  readonly msPerImage: number;
}

interface Item {
  readonly id: number;
  readonly file: string;
  readonly masks: { readonly tag: string; readonly file: string }[];
}

/** A dataset folder (its dataset.sqlite) or the database itself. */
function databaseFile(data: string): string {
  const file = fs.existsSync(data) && fs.statSync(data).isDirectory() ? path.join(data, 'dataset.sqlite') : data;
  if (!fs.existsSync(file)) throw new TagbooruError('E_USAGE', `maps-eval: ${file} does not exist`);
  return file;
}

/** Every image with a mask for a localisable tag of the model (tags without a place, such as solo, are skipped). */
function maskedItems(dbFile: string, bundle: Bundle, only: ReadonlySet<string> | null, limit: number | undefined): Item[] {
  const known = new Map(bundle.manifest.tags.map((t) => [t.name, t]));
  const db = TrainingDatabase.open(dbFile, { readonly: true });
  const items: Item[] = [];
  try {
    for (const r of db.records()) {
      const masks = db.masks(r.id).filter((m) => known.has(m.tag) && !isPlaceless(known.get(m.tag)!) && (!only || only.has(m.tag)));
      if (masks.length === 0) continue;
      items.push({ id: r.id, file: r.path, masks: masks.map((m) => ({ tag: m.tag, file: maskPath(dbFile, r.md5, m.tag) })) });
      if (limit !== undefined && items.length >= limit) break;
    }
  } finally {
    db.close();
  }
  if (items.length === 0) throw new TagbooruError('E_USAGE', `${dbFile} has no ground-truth masks for localisable tags of this model (make one with \`tagbooru make-dataset synthetic\`)`);
  return items;
}

/**
 * The map of every true tag is scored whether or not the model predicted it. A mask that does not match its
 * image's size is an error; an image that cannot be explained is reported through `onError` and skipped.
 */
export async function evaluateMaps(model: string | Bundle, data: string, options: MapsEvalOptions = {}): Promise<MapsEvalResult> {
  const o = { ...MAPS_EVAL_DEFAULTS, ...defined(options) };
  const dbFile = databaseFile(data);
  const bundle = typeof model === 'string' ? await readBundle(model) : model;
  const items = maskedItems(dbFile, bundle, o.tags ? new Set(o.tags) : null, o.limit);

  const tuning = new Map<string, TagAccumulator>(), evaluation = new Map<string, TagAccumulator>();
  const add = (id: number, tag: string, map: FloatMap, truth: TruthMask, peak: readonly [number, number]) => {
    const split = isValidation(id, o.tuneFraction) ? tuning : evaluation;
    let acc = split.get(tag);
    if (!acc) split.set(tag, (acc = newAccumulator()));
    accumulate(acc, map, truth, peak, o.tolerance);
  };
  let failed = 0, explainMs = 0;
  if (o.ceiling !== undefined) {
    for (const [done, item] of items.entries()) {
      for (const m of item.masks) {
        const truth = await readMask(m.file);
        const best = truthOnGrid(truth, o.ceiling);
        add(item.id, m.tag, best.map, truth, best.peak);
      }
      o.onProgress?.(done + 1, items.length);
    }
  } else {
    const tagger = new BaseTagger(await openTaggerSession(bundle, { threads: o.threads }));
    const explainer = new Explainer(tagger);
    try {
      for (const [done, item] of items.entries()) {
        const t0 = performance.now();
        const result = await explainer.explain(item.file, { tags: item.masks.map((m) => m.tag), method: o.method, refine: o.refine, mapStride: o.mapStride, includePlaceless: true });
        explainMs += performance.now() - t0;
        o.onProgress?.(done + 1, items.length);
        if (result.error !== null) {
          failed++;
          o.onError?.(item.file, result.error);
          continue;
        }
        for (const region of result.tags) {
          const truth = await readMask(item.masks.find((m) => m.tag === region.name)!.file);
          if (truth.width !== result.width || truth.height !== result.height) throw new TagbooruError('E_USAGE', `${item.file}: the mask of ${region.name} is ${truth.width}×${truth.height} but the image is ${result.width}×${result.height}`);
          add(item.id, region.name, region.map, truth, region.peak);
        }
      }
    } finally {
      await Promise.all([explainer.close(), tagger.close()]);
    }
  }
  if (tuning.size === 0 || evaluation.size === 0) throw new TagbooruError('E_USAGE', `too few images (${items.length}) to split into tuning and evaluation; raise the limit (--limit)`);
  return { data: dbFile, images: items.length, failed, msPerImage: explainMs / items.length, ...score(evaluation, bestThreshold(tuning)) };
}
