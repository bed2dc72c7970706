/**
 * A bundle's scores on labelled images (a training database's posts or a folder with caption sidecars), with
 * the multi-hot labels and the mask of unknown labels that `metrics` and `calibrate` compare them to.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TrainingDatabase } from '../data/training-db.ts';
import { choiceSlices } from '../dataset/synthetic/choices.ts';
import { parseSidecar } from '../data/sources.ts';
import { IMAGE_EXTENSIONS } from '../image/index.ts';
import type { Bundle } from '../infer/bundle.ts';
import { readRegularTextIfExists } from '../regular-files.ts';
import type { TaggerOptions } from '../infer/tagger.ts';
import { createTagger } from '../tagger.ts';
import type { Io } from './command.ts';
import { collectAll } from './inputs.ts';
import { createProgress } from './progress.ts';

export interface Labelled {
  readonly file: string;
  readonly tags: readonly string[];
  /** Tags neither positive nor negative on this image (the database's unknown_tags). */
  readonly unknown?: readonly string[];
  /** Its slices under each `metrics --by` key, from the generator's recorded choices; absent without them. */
  readonly slices?: ReadonlyMap<string, string[]>;
}

export interface LabelledScores {
  /** [images × tags] probabilities of the images that decoded, in bundle tag order. */
  readonly probs: Float32Array;
  readonly labels: Float32Array;
  /** 0 where the label is unknown; null when every label is known. */
  readonly mask: Float32Array | null;
  readonly images: number;
  readonly failed: number;
  /** The items that decoded, one per row. */
  readonly scored: readonly Labelled[];
}

/** The posts of a training database that `keep(id)` accepts; no other post's image is ever opened. */
export function databaseItems(file: string, keep: (id: number) => boolean): Labelled[] {
  const db = TrainingDatabase.open(file, { readonly: true });
  try {
    const unknown = db.unknownTags(), choices = db.allChoices();
    return [...db.records()].filter((r) => keep(r.id)).map((r) => ({
      file: r.path, tags: r.tags, unknown: unknown.get(r.id) ?? [], ...(choices.has(r.id) && { slices: choiceSlices(choices.get(r.id)) }),
    }));
  } finally {
    db.close();
  }
}

/**
 * The labelled images of `data`: a training database's posts that `keep(id)` accepts, or every image of a folder
 * that has a caption sidecar (`folder: true`; its captions are taken as complete: a tag not listed is a negative).
 * A path that is neither is left to the database's own "not found".
 */
export async function labelledItems(data: string, keep: (id: number) => boolean, stdin: NodeJS.ReadableStream): Promise<{ items: Labelled[]; folder: boolean }> {
  const folder = await fs.stat(data).then((s) => s.isDirectory(), () => false);
  return { items: folder ? await folderItems(data, stdin) : databaseItems(data, keep), folder };
}

export async function folderItems(dir: string, stdin: NodeJS.ReadableStream): Promise<Labelled[]> {
  const files = await collectAll([dir], { recursive: true, extensions: IMAGE_EXTENSIONS, stdin });
  const out: Labelled[] = [];
  for (const file of files) {
    const text = await readRegularTextIfExists(path.join(path.dirname(file), `${path.parse(file).name}.txt`)).catch(() => null);
    if (text !== null) out.push({ file, tags: parseSidecar(text) });
  }
  return out;
}

/** Runs the bundle over the items; an image that fails is reported on stderr and left out. */
export async function scoreLabelled(bundle: Bundle, items: readonly Labelled[], io: Io, batchSize: number, options: TaggerOptions = {}): Promise<LabelledScores> {
  const names = bundle.manifest.tags.map((t) => t.name);
  const T = names.length;
  const index = new Map(names.map((n, i) => [n, i]));
  const probs = new Float32Array(items.length * T), labels = new Float32Array(items.length * T), mask = new Float32Array(items.length * T).fill(1);
  let rows = 0, failed = 0, masked = false, i = 0;
  const scored: Labelled[] = [];
  const tagger = await createTagger(bundle, options);
  try {
    const progress = createProgress(io, items.length);
    for await (const r of tagger.stream(items.map((it) => it.file), { scores: true, batchSize })) {
      const item = items[i++]!;
      progress.update(i);
      if (r.error !== null || !r.scores) {
        failed++;
        progress.log(`error: ${r.file}: ${r.error}`);
        continue;
      }
      probs.set(r.scores, rows * T);
      scored.push(item);
      for (const t of item.tags) {
        const j = index.get(t);
        if (j !== undefined) labels[rows * T + j] = 1;
      }
      for (const t of item.unknown ?? []) {
        const j = index.get(t);
        if (j !== undefined) [mask[rows * T + j], masked] = [0, true];
      }
      rows++;
    }
    progress.finish();
  } finally {
    await tagger.close();
  }
  const end = rows * T;
  return { probs: probs.slice(0, end), labels: labels.slice(0, end), mask: masked ? mask.slice(0, end) : null, images: rows, failed, scored };
}
