/**
 * A training database as samples: the DeepDanbooru query (png/jpg/jpeg, minimum_tag_count), a validation
 * split by id, multi-hot labels in tags.txt order, decoding and augmentation per sample.
 */
import { TrainingDatabase, type ImageRecord } from '../data/training-db.ts';
import { isValidation } from '../data/split.ts';
import { TagbooruError, errorMessage } from '../errors.ts';
import { augmentImage, decodeImage, preprocess, type AugmentOptions } from '../image/index.ts';
import { PRESETS } from '../image/spec.ts';
import type { Rng } from '../models/random.ts';
import type { Sample, TrainingData } from './loop.ts';

export interface LabelledRecord extends ImageRecord {
  readonly labels: Uint32Array; // indices into tags.txt
}

export interface SplitData {
  readonly train: LabelledRecord[];
  readonly validation: LabelledRecord[];
  /** Tags on posts that tags.txt does not list (ignored, as DeepDanbooru ignores them). */
  readonly unknownTags: number;
  /** Posts without a single tag of tags.txt (kept: they teach the negatives). */
  readonly unlabelled: number;
}

export function loadSplit(databasePath: string, tags: readonly string[], minimumTagCount: number, validationFraction: number): SplitData {
  const db = TrainingDatabase.open(databasePath, { readonly: true });
  try {
    const index = new Map(tags.map((t, i) => [t, i]));
    const train: LabelledRecord[] = [], validation: LabelledRecord[] = [];
    let unknownTags = 0, unlabelled = 0;
    for (const r of db.records({ minimumTagCount })) {
      const labels: number[] = [];
      for (const t of r.tags) {
        const i = index.get(t);
        if (i === undefined) unknownTags++;
        else labels.push(i);
      }
      if (labels.length === 0) unlabelled++;
      (isValidation(r.id, validationFraction) ? validation : train).push({ ...r, labels: Uint32Array.from(labels) });
    }
    if (train.length === 0) {
      const total = db.postCount();
      const why = total === 0
        ? `${databasePath} has no posts`
        : `none of the ${total} posts in ${databasePath} passed the filter: file_ext png/jpg/jpeg and tag_count_general >= minimum_tag_count (${minimumTagCount})${validation.length ? `, outside the ${validation.length} validation posts` : ''}`;
      throw new TagbooruError('E_USAGE', `empty training set: ${why}`);
    }
    return { train, validation, unknownTags, unlabelled };
  } finally {
    db.close();
  }
}

export interface SampleOptions {
  readonly width: number;
  readonly height: number;
  readonly tags: number;
  /** null: no augmentation (validation, or a project that disables every range). */
  readonly augment: AugmentOptions | null;
  readonly onError?: (record: ImageRecord, message: string) => void;
}

/** The inference preprocessing of the deepdanbooru preset at the project's size. */
function evalSpec(o: SampleOptions) {
  return { ...PRESETS.deepdanbooru, width: o.width, height: o.height };
}

export function recordSamples(records: readonly LabelledRecord[], o: SampleOptions): TrainingData {
  const per = o.width * o.height * 3;
  const spec = evalSpec(o);
  return {
    size: records.length,
    async load(i: number, rng: Rng): Promise<Sample | null> {
      const r = records[i]!;
      try {
        const image = await decodeImage(r.path);
        const x = new Float32Array(per);
        if (o.augment) await augmentImage(image, o.width, o.height, o.augment, () => rng.next(), x);
        else preprocess(image, spec, x);
        const labels = new Float32Array(o.tags);
        for (const j of r.labels) labels[j] = 1;
        return { x, labels };
      } catch (e) {
        o.onError?.(r, errorMessage(e));
        return null;
      }
    },
  };
}
