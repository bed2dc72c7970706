/**
 * `make-dataset synthetic`: many scenes written as a tagbooru dataset — DeepDanbooru's SQLite `posts`
 * and `images/<md5[0:2]>/<md5>.png`, plus `masks/<md5[0:2]>/<md5>/<tag>.png` indexed in the database,
 * each image's choices and unknown tags (`tagbooru_choices`), `tags.txt`, `categories.json`,
 * `provenance.json` and `LICENSES`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TrainingDatabase, imageRelativePath, maskRelativePath, writeTagFiles, type MaskRow, type PostRow } from '../../data/index.ts';
import { TagbooruError, errorMessage, expectNumberInRange } from '../../errors.ts';
import { defined } from '../../option-values.ts';
import { STYLES, type StyleName } from './character.ts';
import { SYNTHETIC_DEFAULTS } from './defaults.ts';
import { RenderPool } from './pool.ts';
import { produceImage, type ProducedImage } from './produce.ts';
import { DEFAULT_SETTINGS, checkSettings, isDefault, presetSettings, type GeneratorSettings } from './settings.ts';
import { ALL_TAG_NAMES, TAG_NAMES } from './tags.ts';

export const GENERATOR = 'tagbooru-synthetic';
/**
 * Bumped when a seed would give other files or labels: 2 = PNG level 3 (same pixels and tags as 1, other bytes and
 * md5s); 3 = sunglasses in line art leave `sunglasses` and `glasses` unknown (same files; other labels in line art).
 */
export const GENERATOR_VERSION = 3;
export const DATABASE_FILE = 'dataset.sqlite';

export interface SyntheticDatasetOptions {
  count: number;
  seed: number;
  /** Image side in pixels. */
  size?: number;
  /** Id of the first post; defaults to one past the largest id already in the database. */
  startId?: number;
  /**
   * Worker threads that render; 0 (the default) renders on the calling thread, whose JavaScript is a third of
   * the work: workers pay off beyond 2 cores, once their start-up (a few seconds each) is amortised.
   */
  workers?: number;
  /** Images in flight at once, over all workers. */
  concurrency?: number;
  /** Write the mask PNGs and their index (visibility is always computed). */
  masks?: boolean;
  /** A named set of generator settings (settings.ts `PRESETS`); `settings` overrides it field by field. */
  preset?: string;
  settings?: Partial<GeneratorSettings>;
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

/** The licences of the artwork of `styles`, read from each DiceBear style's own metadata. */
export const artworkCredits = (styles: readonly StyleName[]) => styles.map((name) => STYLES[name]).map((style, i) => ({
  style: styles[i]!,
  title: style.meta.title,
  creator: style.meta.creator,
  source: style.meta.source,
  licence: style.meta.license?.name,
  licenceUrl: style.meta.license?.url,
  credit: `"${style.meta.title}" by ${style.meta.creator} (${style.meta.source}), licensed under ${style.meta.license?.name} (${style.meta.license?.url}), via DiceBear (https://www.dicebear.com); recoloured, rendered and composited by tagbooru.`,
}));

/** The default generator's artwork, for the README. */
export const ARTWORK_CREDITS = artworkCredits(DEFAULT_SETTINGS.styles);

type Run = { styles?: StyleName[]; preset?: string };

/** Every style any run of the dataset drew, in the order of `STYLES` (runs before presets drew the default pair). */
function stylesOf(runs: readonly Run[]): StyleName[] {
  const used = new Set(runs.flatMap((r) => r.styles ?? DEFAULT_SETTINGS.styles));
  return (Object.keys(STYLES) as StyleName[]).filter((s) => used.has(s));
}

/** `LICENSES`: the licence of every style whose artwork is in the images, one paragraph each. */
function licensesText(styles: readonly StyleName[]): string {
  const head = 'The images in this dataset are rendered from DiceBear avatar styles (https://www.dicebear.com), each under its own licence:';
  return `${[head, ...artworkCredits(styles).map((a) => `${a.style}: "${a.title}" by ${a.creator}\n  source:  ${a.source}\n  licence: ${a.licence} (${a.licenceUrl})`)].join('\n\n')}\n`;
}

interface Written {
  post: PostRow;
  masks: MaskRow[];
  recipe: unknown;
  choices: { postId: number; choices: unknown; unknownTags: string[] };
}

async function writeFile(file: string, bytes: Uint8Array, made?: Set<string>): Promise<void> {
  try {
    const parent = path.dirname(file);
    if (!made?.has(parent)) {
      await fs.mkdir(parent, { recursive: true });
      made?.add(parent);
    }
    await fs.writeFile(file, bytes);
  } catch (e) {
    throw new TagbooruError('E_IO', `cannot write ${file}: ${errorMessage(e)}`, { cause: e });
  }
}

async function writeImage(dir: string, id: number, image: ProducedImage, run: { seed: number; size: number }, made: Set<string>): Promise<Written> {
  await writeFile(path.join(dir, imageRelativePath(image.md5, 'png')), image.png, made);
  if (image.masks.length > 0) {
    const [first, ...rest] = image.masks.map((m) => ({ file: path.join(dir, maskRelativePath(image.md5, m.tag)), png: m.png }));
    // the first write makes the image's mask folder; the rest need not ask
    await writeFile(first!.file, first!.png);
    await Promise.all(rest.map((m) => writeFile(m.file, m.png, new Set([path.dirname(m.file)]))));
  }
  // Danbooru keeps tag strings sorted; every tag here is general
  const tags = [...image.tags].sort();
  return {
    post: { id, md5: image.md5, file_ext: 'png', tag_string: tags.join(' '), tag_count_general: tags.length },
    masks: image.masks.map((m) => ({ postId: id, tag: m.tag, pixels: m.pixels, box: m.box })),
    recipe: { generator: GENERATOR, version: GENERATOR_VERSION, seed: run.seed, index: image.index, size: run.size, ...image.recipe },
    choices: { postId: id, choices: image.choices, unknownTags: image.unknownTags },
  };
}

async function appendProvenance(dir: string, run: Record<string, unknown>, artwork: unknown): Promise<void> {
  const file = path.join(dir, 'provenance.json');
  let doc: { generator: string; artwork: unknown; runs: unknown[] } = { generator: GENERATOR, artwork, runs: [] };
  try {
    doc = { ...doc, ...(JSON.parse(await fs.readFile(file, 'utf8')) as object) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new TagbooruError('E_IO', `cannot read ${file}: ${errorMessage(e)}`, { cause: e });
  }
  doc.artwork = artwork;
  doc.runs = [...doc.runs, run];
  await writeFile(file, Buffer.from(`${JSON.stringify(doc, null, 2)}\n`));
}

export async function makeSyntheticDataset(dir: string, options: SyntheticDatasetOptions): Promise<SyntheticDatasetSummary> {
  const given = defined(options);
  const workers = given.workers ?? 0;
  const o = { ...SYNTHETIC_DEFAULTS, workers, concurrency: 4 * Math.max(1, workers), ...given } as Required<SyntheticDatasetOptions>;
  expectNumberInRange('count', o.count, 1, 100_000_000, true);
  expectNumberInRange('workers', o.workers, 0, 64, true);
  expectNumberInRange('seed', o.seed, 0, 2 ** 32 - 1, true);
  expectNumberInRange('size', o.size, 32, 2048, true);
  expectNumberInRange('concurrency', o.concurrency, 1, 256, true);
  const settings = checkSettings({ ...presetSettings(o.preset), ...given.settings });
  const plain = isDefault(settings);
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

    const previous = (db.info('runs') as (Run & { plain?: boolean })[] | undefined) ?? [];
    // the wider tags join tags.txt once any run could draw them; a default-only dataset keeps version 2's list
    const tagNames = plain && previous.every((r) => r.plain !== false) ? TAG_NAMES : ALL_TAG_NAMES;
    const tagCounts: Record<string, number> = Object.fromEntries(tagNames.map((t) => [t, 0]));
    let pending: Written[] = [], done = 0, next = 0, maskCount = 0, failure: { error: unknown } | undefined;
    const flush = () => {
      const batch = pending;
      pending = [];
      db.transaction(() => {
        db.insertPosts(batch.map((w) => w.post));
        db.insertMasks(batch.flatMap((w) => w.masks));
        db.insertRecipes(batch.map((w) => ({ postId: w.post.id, recipe: w.recipe })));
        db.insertChoices(batch.map((w) => w.choices));
      });
    };
    const made = new Set<string>();
    const pool = o.workers > 0 ? await RenderPool.start(o.workers) : undefined;
    const request = (index: number) => ({ seed: o.seed, index, size: o.size, masks: o.masks, settings, preset: o.preset });
    const produce = (index: number) => (pool ? pool.produce(request(index)) : produceImage(request(index)));
    const lane = async () => {
      while (next < o.count && !failure) {
        const index = next++;
        try {
          const image = await produce(index);
          const written = await writeImage(dir, firstId + index, image, o, made);
          for (const t of image.tags) tagCounts[t]!++;
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
    try {
      await Promise.all(Array.from({ length: Math.min(o.concurrency, o.count) }, lane));
    } finally {
      await pool?.close();
    }
    // what finished is recorded even after a failure, so the database lists every image on disk
    flush();
    if (failure) throw failure.error;

    const seconds = (performance.now() - started) / 1000;
    const run = {
      seed: o.seed, count: o.count, size: o.size, firstId, lastId, masks: o.masks, version: GENERATOR_VERSION, createdAt: new Date().toISOString(),
      preset: o.preset, plain, styles: [...settings.styles], ...(!plain && { settings }),
    };
    const styles = stylesOf([...previous, run]);
    db.setInfo('generator', { name: GENERATOR, version: GENERATOR_VERSION });
    db.setInfo('artwork', artworkCredits(styles));
    db.setInfo('runs', [...previous, run]);
    await writeTagFiles(dir, { general: tagNames });
    await appendProvenance(dir, run, artworkCredits(styles));
    await writeFile(path.join(dir, 'LICENSES'), Buffer.from(licensesText(styles)));
    return { database, count: o.count, firstId, lastId, masks: maskCount, seconds, tagCounts };
  } finally {
    db.close();
  }
}
