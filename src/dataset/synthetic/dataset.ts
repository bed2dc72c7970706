/**
 * `make-dataset synthetic`: many scenes written as a tagbooru dataset — DeepDanbooru's SQLite `posts`
 * and `images/<md5[0:2]>/<md5>.png`, plus `masks/<md5[0:2]>/<md5>/<tag>.png` indexed in the database,
 * `tags.txt`, `categories.json` and `provenance.json`.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TrainingDatabase, imageRelativePath, maskRelativePath, md5Hex, writeTagFiles, type MaskRow, type PostRow } from '../../data/index.ts';
import { TagbooruError, errorMessage, expectNumberInRange } from '../../errors.ts';
import { STYLES } from './character.ts';
import { encodeMaskPng } from './mask-png.ts';
import { encodePng } from './raster.ts';
import { imageRng, sampleScene, type SceneRecipe } from './recipe.ts';
import { renderScene, type RenderedScene } from './render.ts';
import { TAG_NAMES } from './tags.ts';

export const GENERATOR = 'tagbooru-synthetic';
/** Bump when the same seed would draw different images. */
export const GENERATOR_VERSION = 1;
export const DATABASE_FILE = 'dataset.sqlite';

export interface SyntheticDatasetOptions {
  count: number;
  seed: number;
  /** Image side in pixels. */
  size?: number;
  /** Id of the first post; defaults to one past the largest id already in the database. */
  startId?: number;
  /** Images rendered at once. */
  concurrency?: number;
  /** Write the mask PNGs and their index (visibility is always computed). */
  masks?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface SyntheticDatasetSummary {
  database: string;
  count: number;
  firstId: number;
  lastId: number;
  masks: number;
  seconds: number;
  /** Images carrying each tag, in tags.txt order. */
  tagCounts: Record<string, number>;
}

const DEFAULTS = { size: 256, masks: true, concurrency: Math.max(2, 2 * os.availableParallelism()) };

/** The licences of the artwork, for the dataset's provenance and the README. */
export const ARTWORK_CREDITS = Object.entries(STYLES).map(([name, style]) => ({
  style: name,
  title: style.meta.title,
  creator: style.meta.creator,
  source: style.meta.source,
  licence: style.meta.license?.name,
  licenceUrl: style.meta.license?.url,
  credit: `"${style.meta.title}" by ${style.meta.creator} (${style.meta.source}), licensed under ${style.meta.license?.name}, via DiceBear; rendered and composited by tagbooru.`,
}));

interface Written {
  post: PostRow;
  masks: MaskRow[];
  recipe: unknown;
}

async function writeFile(file: string, bytes: Uint8Array): Promise<void> {
  try {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, bytes);
  } catch (e) {
    throw new TagbooruError('E_IO', `cannot write ${file}: ${errorMessage(e)}`, { cause: e });
  }
}

async function writeScene(dir: string, id: number, scene: RenderedScene, recipe: SceneRecipe & { seed: number; index: number }, withMasks: boolean): Promise<Written> {
  const png = await encodePng(scene.rgb, scene.size, scene.size, 3);
  const md5 = md5Hex(png);
  await writeFile(path.join(dir, imageRelativePath(md5, 'png')), png);
  const masks: MaskRow[] = [];
  if (withMasks) {
    await Promise.all(
      [...scene.masks].map(async ([tag, m]) => {
        await writeFile(path.join(dir, maskRelativePath(md5, tag)), encodeMaskPng(m.data, scene.size, scene.size));
        masks.push({ postId: id, tag, pixels: m.pixels, box: m.box });
      }),
    );
  }
  // Danbooru keeps tag strings sorted; every tag here is general
  const tags = [...scene.tags].sort();
  return { post: { id, md5, file_ext: 'png', tag_string: tags.join(' '), tag_count_general: tags.length }, masks, recipe: { generator: GENERATOR, version: GENERATOR_VERSION, size: scene.size, ...recipe } };
}

async function appendProvenance(dir: string, run: Record<string, unknown>): Promise<void> {
  const file = path.join(dir, 'provenance.json');
  let doc: { generator: string; artwork: unknown; runs: unknown[] } = { generator: GENERATOR, artwork: ARTWORK_CREDITS, runs: [] };
  try {
    doc = { ...doc, ...(JSON.parse(await fs.readFile(file, 'utf8')) as object) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new TagbooruError('E_IO', `cannot read ${file}: ${errorMessage(e)}`, { cause: e });
  }
  doc.artwork = ARTWORK_CREDITS;
  doc.runs = [...doc.runs, run];
  await writeFile(file, Buffer.from(`${JSON.stringify(doc, null, 2)}\n`));
}

export async function makeSyntheticDataset(dir: string, options: SyntheticDatasetOptions): Promise<SyntheticDatasetSummary> {
  const o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Required<SyntheticDatasetOptions>;
  expectNumberInRange('count', o.count, 1, 100_000_000, true);
  expectNumberInRange('seed', o.seed, 0, 2 ** 32 - 1, true);
  expectNumberInRange('size', o.size, 32, 2048, true);
  expectNumberInRange('concurrency', o.concurrency, 1, 256, true);
  const started = performance.now();
  const database = path.join(dir, DATABASE_FILE);
  const db = TrainingDatabase.open(database, { create: true });
  try {
    const firstId = options.startId ?? db.maxId() + 1;
    expectNumberInRange('startId', firstId, 1, Number.MAX_SAFE_INTEGER - o.count, true);
    const lastId = firstId + o.count - 1;
    const taken = db.countIdsBetween(firstId, lastId);
    if (taken > 0) {
      throw new TagbooruError('E_USAGE', `${database} already holds ${taken} post(s) with ids ${firstId}–${lastId}; choose a start id above ${db.maxId()}`);
    }

    const tagCounts: Record<string, number> = Object.fromEntries(TAG_NAMES.map((t) => [t, 0]));
    let pending: Written[] = [], done = 0, next = 0, maskCount = 0, failure: { error: unknown } | undefined;
    const flush = () => {
      const batch = pending;
      pending = [];
      db.transaction(() => {
        db.insertPosts(batch.map((w) => w.post));
        db.insertMasks(batch.flatMap((w) => w.masks));
        db.insertRecipes(batch.map((w) => ({ postId: w.post.id, recipe: w.recipe })));
      });
    };
    const worker = async () => {
      while (next < o.count && !failure) {
        const index = next++;
        try {
          const scene = sampleScene(imageRng(o.seed, index));
          const rendered = await renderScene(scene, { size: o.size });
          const written = await writeScene(dir, firstId + index, rendered, { seed: o.seed, index, ...scene }, o.masks);
          for (const t of rendered.tags) tagCounts[t]!++;
          maskCount += written.masks.length;
          pending.push(written);
          if (pending.length >= 256) flush();
        } catch (error) {
          failure ??= { error };
          return;
        }
        o.onProgress?.(++done, o.count);
      }
    };
    await Promise.all(Array.from({ length: Math.min(o.concurrency, o.count) }, worker));
    // what finished is recorded even after a failure, so the database lists every image on disk
    flush();
    if (failure) throw failure.error;

    const seconds = (performance.now() - started) / 1000;
    const run = { seed: o.seed, count: o.count, size: o.size, firstId, lastId, masks: o.masks, version: GENERATOR_VERSION, createdAt: new Date().toISOString() };
    db.setInfo('generator', { name: GENERATOR, version: GENERATOR_VERSION });
    db.setInfo('artwork', ARTWORK_CREDITS);
    db.setInfo('runs', [...((db.info('runs') as unknown[] | undefined) ?? []), run]);
    await writeTagFiles(dir, { general: TAG_NAMES });
    await appendProvenance(dir, run);
    return { database, count: o.count, firstId, lastId, masks: maskCount, seconds, tagCounts };
  } finally {
    db.close();
  }
}
