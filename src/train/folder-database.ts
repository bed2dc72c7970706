/**
 * A training database from images with caption files (or a manifest): each image copied into
 * DeepDanbooru's `images/<md5[0:2]>/<md5>.<ext>` layout under its real md5, one post per image.
 * Unreadable images are skipped and reported, never trained on mid-epoch.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { imagePath, md5Hex } from '../data/paths.ts';
import { parseSidecar, type FolderItem } from '../data/sources.ts';
import { countTags } from '../data/tags.ts';
import { TrainingDatabase, type PostRow } from '../data/training-db.ts';
import { writeAtomic } from '../atomic-files.ts';
import { TagbooruError, errorMessage } from '../errors.ts';
import { decodeImage, transcodeToPng } from '../image/index.ts';
import { readRegularFile, readRegularTextIfExists } from '../regular-files.ts';

const TRAINABLE = new Set(['png', 'jpg', 'jpeg']);
const INSERT_BATCH = 10_000;

export interface FolderDatabaseOptions {
  /** Where the images came from, for the "nothing usable" error. */
  readonly source: string;
  /** Read each image's tags from `<name>.txt` (or `<name>.<ext>.txt`) beside it; otherwise the items carry them. */
  readonly sidecars: boolean;
  readonly firstId?: number;
  readonly vacuum?: boolean;
  readonly onProgress?: (done: number, total: number) => void;
  readonly onSkip?: (file: string, reason: string) => void;
}

export interface FolderDatabase {
  readonly posts: number;
  readonly skipped: number;
  /** How many imported images carry each tag. */
  readonly tagCounts: Map<string, number>;
}

async function readSidecar(image: string): Promise<string[] | null> {
  const stem = path.join(path.dirname(image), path.parse(image).name);
  for (const candidate of [`${stem}.txt`, `${image}.txt`]) {
    const text = await readRegularTextIfExists(candidate).catch(() => null);
    if (text !== null) return parseSidecar(text);
  }
  return null;
}

/** Copy one image into the layout; anything but png/jpg becomes PNG so it trains. */
async function importImage(item: FolderItem, output: string, sidecars: boolean): Promise<{ md5: string; ext: string; tags: string[] }> {
  const tags = sidecars ? await readSidecar(item.file) : item.tags;
  if (!tags) throw new TagbooruError('E_IO', 'no .txt tag sidecar');
  let bytes: Uint8Array = await readRegularFile(item.file);
  await decodeImage(bytes); // refuse what cannot be trained on now, not mid-epoch
  let ext = path.extname(item.file).slice(1).toLowerCase();
  if (!TRAINABLE.has(ext)) [bytes, ext] = [await transcodeToPng(bytes), 'png'];
  const md5 = md5Hex(bytes);
  const target = imagePath(output, md5, ext);
  await fs.mkdir(path.dirname(target), { recursive: true });
  await writeAtomic(target, bytes);
  return { md5, ext, tags };
}

export async function removeDatabase(file: string): Promise<void> {
  for (const suffix of ['', '-wal', '-shm']) await fs.rm(`${file}${suffix}`, { force: true });
}

/** A new database at `output` filled by `fill` through `insert` (rows go in batches); on failure nothing is left at `output`. */
export async function writeNewDatabase<T>(output: string, fill: (insert: (row: PostRow) => void) => Promise<T>, o: { vacuum?: boolean } = {}): Promise<T> {
  const db = TrainingDatabase.open(output, { create: true });
  let result: T;
  try {
    const batch: PostRow[] = [];
    result = await fill((row) => {
      batch.push(row);
      if (batch.length >= INSERT_BATCH) db.insertPosts(batch.splice(0));
    });
    db.insertPosts(batch);
    if (o.vacuum) db.vacuum();
  } catch (e) {
    db.close();
    await removeDatabase(output);
    throw e;
  }
  db.close();
  return result;
}

/** Writes `output` (a new database); on failure nothing is left at `output`. */
export async function buildFolderDatabase(items: readonly FolderItem[], output: string, o: FolderDatabaseOptions): Promise<FolderDatabase> {
  return writeNewDatabase(output, async (insert) => {
    const tagLists: string[][] = [];
    let id = o.firstId ?? 1, skipped = 0, done = 0;
    for (const item of items) {
      o.onProgress?.(++done, items.length);
      let image;
      try {
        image = await importImage(item, output, o.sidecars);
      } catch (e) {
        skipped++;
        o.onSkip?.(item.file, errorMessage(e));
        continue;
      }
      const general = image.tags.filter((t) => !t.startsWith('rating:'));
      insert({ id: id++, md5: image.md5, file_ext: image.ext, tag_string: image.tags.join(' '), tag_count_general: general.length });
      tagLists.push(image.tags);
    }
    if (tagLists.length === 0) throw new TagbooruError('E_USAGE', `no usable images in ${o.source}`);
    return { posts: tagLists.length, skipped, tagCounts: countTags(tagLists.map((tags) => ({ tags }))) };
  }, o);
}
