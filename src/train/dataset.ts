/**
 * A training database as samples: the DeepDanbooru query (png/jpg/jpeg, minimum_tag_count), a validation
 * split by id, multi-hot labels in tags.txt order, decoding and augmentation per sample, and the loss mask
 * of the labels an augmentation made unknown (label-rules.ts).
 */
import { maskPath } from '../data/paths.ts';
import { TrainingDatabase, type ImageRecord } from '../data/training-db.ts';
import { isValidation } from '../data/split.ts';
import { TagbooruError, errorMessage } from '../errors.ts';
import { augmentImage, decodeImage, preprocess, type AugmentOptions } from '../image/index.ts';
import { PRESETS } from '../image/spec.ts';
import type { Rng } from '../models/random.ts';
import type { DecodedCache } from './decoded-cache.ts';
import type { LabelRules, Part } from './label-rules.ts';
import type { Sample, TrainingData } from './loop.ts';

export interface LabelledRecord extends ImageRecord {
  readonly labels: Uint32Array; // indices into tags.txt
  /** Tags the database records as unknown for this image (the generator's `unknown_tags`): masked out of the loss. */
  readonly unknown: Uint32Array;
  /** Ground-truth masks of its tags, when the database has them (the synthetic generator's). */
  readonly parts: readonly Part[];
}

export interface SplitData {
  readonly train: LabelledRecord[];
  readonly validation: LabelledRecord[];
  /** Tags on posts that tags.txt does not list (ignored, as DeepDanbooru ignores them). */
  readonly unknownTags: number;
  /** Posts without a single tag of tags.txt (kept: they teach the negatives). */
  readonly unlabelled: number;
}

export interface SplitOptions {
  /** DeepDanbooru's `minimum_tag_count`: the general tags an image needs to be trained on. */
  readonly minimumTagCount: number;
  readonly validationFraction: number;
  /** Where the two settings are set, for the error that names them. */
  readonly settingsFile: string;
}

export function loadSplit(databasePath: string, tags: readonly string[], o: SplitOptions): SplitData {
  const db = TrainingDatabase.open(databasePath, { readonly: true });
  try {
    const index = new Map(tags.map((t, i) => [t, i]));
    const train: LabelledRecord[] = [], validation: LabelledRecord[] = [];
    let unknownTags = 0, unlabelled = 0;
    const unknownByPost = db.unknownTags();
    for (const r of db.records({ minimumTagCount: o.minimumTagCount })) {
      const labels: number[] = [];
      for (const t of r.tags) {
        const i = index.get(t);
        if (i === undefined) unknownTags++;
        else labels.push(i);
      }
      if (labels.length === 0) unlabelled++;
      const parts = db.masks(r.id).flatMap((m) => (index.has(m.tag) ? [{ tag: index.get(m.tag)!, box: m.box, file: maskPath(databasePath, r.md5, m.tag) }] : []));
      const unknown = (unknownByPost.get(r.id) ?? []).flatMap((t) => (index.has(t) ? [index.get(t)!] : []));
      (isValidation(r.id, o.validationFraction) ? validation : train).push({ ...r, labels: Uint32Array.from(labels), unknown: Uint32Array.from(unknown), parts });
    }
    if (train.length === 0) throw new TagbooruError('E_USAGE', `empty training set: ${whyEmpty(db, validation.length, o)}`);
    return { train, validation, unknownTags, unlabelled };
  } finally {
    db.close();
  }
}

/** The filter that removed everything, the setting that controls it and its value now. */
function whyEmpty(db: TrainingDatabase, validation: number, o: SplitOptions): string {
  const c = db.filterCounts();
  if (c.posts === 0) return `${db.path} has no posts`;
  if (c.trainable === 0) return `none of the ${c.posts} posts in ${db.path} is a png, jpg or jpeg file`;
  if (validation === 0) {
    return `none of the ${c.trainable} images in ${db.path} has ${o.minimumTagCount} or more general tags (the most on one image is ${c.mostGeneralTags}): ` +
      `lower "minimum_tag_count" in ${o.settingsFile} (now ${o.minimumTagCount}; DeepDanbooru's 20 suits Danbooru posts, 1 suits caption files)`;
  }
  return `all ${validation} usable images fell in the validation split: lower "validation_fraction" in ${o.settingsFile} (now ${o.validationFraction}) or add images`;
}

export interface SampleOptions {
  readonly width: number;
  readonly height: number;
  readonly tags: number;
  /** null: no augmentation (validation, or a project that disables every range). */
  readonly augment: AugmentOptions | null;
  /** What the augmentation does to the labels; without it every label stays as the database says. */
  readonly labelRules?: LabelRules;
  readonly onError?: (record: ImageRecord, message: string) => void;
  /** Decoded images kept across epochs (decoded-cache.ts); without it every load decodes. */
  readonly cache?: DecodedCache;
}

/** The inference preprocessing of the deepdanbooru preset at the project's size. */
function evalSpec(o: SampleOptions) {
  return { ...PRESETS.deepdanbooru, width: o.width, height: o.height };
}

/** The loss mask of the labels the database itself does not know (0), or undefined when it knows them all. */
function knownMask(unknown: Uint32Array, tags: number): Float32Array | undefined {
  if (unknown.length === 0) return undefined;
  const mask = new Float32Array(tags).fill(1);
  for (const j of unknown) mask[j] = 0;
  return mask;
}

export function recordSamples(records: readonly LabelledRecord[], o: SampleOptions): TrainingData {
  const per = o.width * o.height * 3;
  const spec = evalSpec(o);
  return {
    size: records.length,
    async load(i: number, rng: Rng): Promise<Sample | null> {
      const r = records[i]!;
      try {
        const image = o.cache ? await o.cache.get(r.path, (file) => decodeImage(file)) : await decodeImage(r.path);
        const x = new Float32Array(per);
        const labels = new Float32Array(o.tags);
        for (const j of r.labels) labels[j] = 1;
        const known = knownMask(r.unknown, o.tags);
        if (!o.augment) {
          preprocess(image, spec, x);
          return { x, labels, mask: known };
        }
        const done = await augmentImage(image, o.width, o.height, o.augment, () => rng.next(), x);
        return { x, labels, mask: o.labelRules ? await o.labelRules.apply(labels, done, r.parts, known) : known };
      } catch (e) {
        o.onError?.(r, errorMessage(e));
        return null;
      }
    },
  };
}
