/**
 * The training database: DeepDanbooru's `posts` table, kept exactly so existing databases work, plus
 * tagbooru's own tables (prefixed `tagbooru_`) that DeepDanbooru never reads.
 */
import fs from 'node:fs';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { TagbooruError, errorMessage, expectNumberInRange } from '../errors.ts';
import { imagePath } from './paths.ts';
import { openSqlite } from './sqlite.ts';

/** A row of DeepDanbooru's `posts` table. `tag_string` is space-separated. */
export interface PostRow {
  id: number;
  md5: string;
  file_ext: string;
  tag_string: string;
  tag_count_general: number;
}

/** One trainable image, as DeepDanbooru's `load_image_records` yields it. */
export interface ImageRecord {
  id: number;
  md5: string;
  fileExt: string;
  tags: string[];
  /** `<dirname(db)>/images/<md5[0:2]>/<md5>.<ext>` */
  path: string;
}

/** A ground-truth region: which pixels of post `postId` show `tag` (the PNG lives at `maskPath`). */
export interface MaskRow {
  postId: number;
  tag: string;
  /** Pixels set in the mask. */
  pixels: number;
  /** Bounding box, inclusive-exclusive: x0 <= x < x1, y0 <= y < y1. */
  box: [x0: number, y0: number, x1: number, y1: number];
}

export interface RecordQuery {
  /** DeepDanbooru's `minimum_tag_count`: keeps posts with `tag_count_general >= value`. */
  minimumTagCount?: number;
}

export interface OpenOptions {
  /** Create the file and tables if missing (the folder too). */
  create?: boolean;
  readonly?: boolean;
}

// NOTE: exactly DeepDanbooru's `make-training-database` DDL; a tagbooru database stays readable by it.
const POSTS_DDL = 'CREATE TABLE IF NOT EXISTS posts (id INTEGER NOT NULL PRIMARY KEY, md5 TEXT, file_ext TEXT, tag_string TEXT, tag_count_general INTEGER)';

const TAGBOORU_DDL = [
  'CREATE TABLE IF NOT EXISTS tagbooru_info (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)',
  `CREATE TABLE IF NOT EXISTS tagbooru_masks (post_id INTEGER NOT NULL, tag TEXT NOT NULL, pixels INTEGER NOT NULL,
     x0 INTEGER NOT NULL, y0 INTEGER NOT NULL, x1 INTEGER NOT NULL, y1 INTEGER NOT NULL, PRIMARY KEY (post_id, tag))`,
  'CREATE TABLE IF NOT EXISTS tagbooru_recipes (post_id INTEGER NOT NULL PRIMARY KEY, recipe TEXT NOT NULL)',
  // NOTE: unknown_tags is space-separated like tag_string: tags neither positive nor negative (a loss mask's 0)
  'CREATE TABLE IF NOT EXISTS tagbooru_choices (post_id INTEGER NOT NULL PRIMARY KEY, choices TEXT NOT NULL, unknown_tags TEXT NOT NULL)',
];

const TRAINABLE_SQL = "(file_ext = 'png' OR file_ext = 'jpg' OR file_ext = 'jpeg')";
// NOTE: DeepDanbooru's `load_image_records` query, ordering included; only `id` is added.
const RECORDS_SQL = `SELECT id, md5, file_ext, tag_string FROM posts WHERE ${TRAINABLE_SQL} AND (tag_count_general >= ?) ORDER BY id`;

export class TrainingDatabase {
  private constructor(
    readonly path: string,
    private readonly db: BetterSqlite3.Database,
  ) {}

  /** Open a training database; `create` makes the file and DeepDanbooru's `posts` table if missing. */
  static open(file: string, options: OpenOptions = {}): TrainingDatabase {
    const { create = false, readonly = false } = options;
    if (create && readonly) throw new TagbooruError('E_USAGE', 'A training database cannot be opened with both create and readonly');
    if (!create && !fs.existsSync(file)) throw new TagbooruError('E_IO', `training database not found: ${file}`);
    if (create) fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = openSqlite(file, { readonly });
    try {
      if (create) {
        db.pragma('journal_mode = WAL');
        db.exec(POSTS_DDL);
      } else if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'posts'").get()) {
        throw new TagbooruError('E_IO', `${file} has no posts table: not a training database`);
      }
    } catch (e) {
      db.close();
      if (e instanceof TagbooruError) throw e;
      throw new TagbooruError('E_IO', `cannot open training database ${file}: ${errorMessage(e)}`, { cause: e });
    }
    return new TrainingDatabase(file, db);
  }

  close(): void {
    this.db.close();
  }

  /** Rebuild the file without free pages (make-training-database --vacuum). */
  vacuum(): void {
    this.db.exec('VACUUM');
  }

  /** Insert posts in one transaction; an id that exists already fails the whole batch. */
  insertPosts(rows: readonly PostRow[]): void {
    const insert = this.db.prepare('INSERT INTO posts (id, md5, file_ext, tag_string, tag_count_general) VALUES (@id, @md5, @file_ext, @tag_string, @tag_count_general)');
    this.transaction(() => {
      for (const row of rows) insert.run(row);
    });
  }

  /**
   * Trainable images in id order, with DeepDanbooru's filter: png/jpg/jpeg and
   * `tag_count_general >= minimumTagCount` (0 keeps every image).
   */
  *records(query: RecordQuery = {}): Generator<ImageRecord> {
    const min = expectNumberInRange('minimumTagCount', query.minimumTagCount ?? 0, 0, Number.MAX_SAFE_INTEGER, true);
    const rows = this.db.prepare(RECORDS_SQL).iterate(min) as IterableIterator<{ id: number; md5: string; file_ext: string; tag_string: string | null }>;
    for (const row of rows) {
      yield {
        id: row.id,
        md5: row.md5,
        fileExt: row.file_ext,
        tags: splitTags(row.tag_string ?? ''),
        path: imagePath(this.path, row.md5, row.file_ext),
      };
    }
  }

  /** What DeepDanbooru's filter sees: all posts, those with a trainable file type, and their largest general tag count. */
  filterCounts(): { posts: number; trainable: number; mostGeneralTags: number } {
    return this.db.prepare(`SELECT count(*) AS posts, count(CASE WHEN ${TRAINABLE_SQL} THEN 1 END) AS trainable,
      coalesce(max(CASE WHEN ${TRAINABLE_SQL} THEN tag_count_general END), 0) AS mostGeneralTags FROM posts`).get() as { posts: number; trainable: number; mostGeneralTags: number };
  }

  post(id: number): PostRow | undefined {
    return this.db.prepare('SELECT id, md5, file_ext, tag_string, tag_count_general FROM posts WHERE id = ?').get(id) as PostRow | undefined;
  }

  postCount(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM posts').get() as { n: number }).n;
  }

  /** The largest post id, or 0 for an empty table. */
  maxId(): number {
    return (this.db.prepare('SELECT coalesce(max(id), 0) AS m FROM posts').get() as { m: number }).m;
  }

  /** How many posts have an id in [from, to]. */
  countIdsBetween(from: number, to: number): number {
    return (this.db.prepare('SELECT count(*) AS n FROM posts WHERE id BETWEEN ? AND ?').get(from, to) as { n: number }).n;
  }

  // --- tagbooru's tables -------------------------------------------------------------------------

  /** Dataset-level facts (generator, options, licences), each a JSON value under a key. */
  setInfo(key: string, value: unknown): void {
    this.ensureTagbooruTables();
    this.db.prepare('INSERT INTO tagbooru_info (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, JSON.stringify(value));
  }

  info(key: string): unknown {
    if (!this.hasTable('tagbooru_info')) return undefined;
    const row = this.db.prepare('SELECT value FROM tagbooru_info WHERE key = ?').get(key) as { value: string } | undefined;
    return row === undefined ? undefined : JSON.parse(row.value);
  }

  insertMasks(rows: readonly MaskRow[]): void {
    this.ensureTagbooruTables();
    const insert = this.db.prepare('INSERT INTO tagbooru_masks (post_id, tag, pixels, x0, y0, x1, y1) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.transaction(() => {
      for (const m of rows) insert.run(m.postId, m.tag, m.pixels, ...m.box);
    });
  }

  /** The ground-truth masks recorded for a post (none for databases tagbooru did not generate). */
  masks(postId: number): MaskRow[] {
    if (!this.hasTable('tagbooru_masks')) return [];
    const rows = this.db.prepare('SELECT post_id, tag, pixels, x0, y0, x1, y1 FROM tagbooru_masks WHERE post_id = ? ORDER BY tag').all(postId) as {
      post_id: number; tag: string; pixels: number; x0: number; y0: number; x1: number; y1: number;
    }[];
    return rows.map((r) => ({ postId: r.post_id, tag: r.tag, pixels: r.pixels, box: [r.x0, r.y0, r.x1, r.y1] }));
  }

  /** How a generated post was made (a JSON document), so it can be re-rendered or audited. */
  insertRecipes(rows: readonly { postId: number; recipe: unknown }[]): void {
    this.ensureTagbooruTables();
    const insert = this.db.prepare('INSERT INTO tagbooru_recipes (post_id, recipe) VALUES (?, ?)');
    this.transaction(() => {
      for (const r of rows) insert.run(r.postId, JSON.stringify(r.recipe));
    });
  }

  recipe(postId: number): unknown {
    if (!this.hasTable('tagbooru_recipes')) return undefined;
    const row = this.db.prepare('SELECT recipe FROM tagbooru_recipes WHERE post_id = ?').get(postId) as { recipe: string } | undefined;
    return row === undefined ? undefined : JSON.parse(row.recipe);
  }

  /** What a generator chose for each post (a flat JSON document to slice by) and the tags it could not tell. */
  insertChoices(rows: readonly { postId: number; choices: unknown; unknownTags: readonly string[] }[]): void {
    this.ensureTagbooruTables();
    const insert = this.db.prepare('INSERT INTO tagbooru_choices (post_id, choices, unknown_tags) VALUES (?, ?, ?)');
    this.transaction(() => {
      for (const r of rows) insert.run(r.postId, JSON.stringify(r.choices), [...r.unknownTags].sort().join(' '));
    });
  }

  choices(postId: number): { choices: unknown; unknownTags: string[] } | undefined {
    if (!this.hasTable('tagbooru_choices')) return undefined;
    const row = this.db.prepare('SELECT choices, unknown_tags FROM tagbooru_choices WHERE post_id = ?').get(postId) as { choices: string; unknown_tags: string } | undefined;
    return row === undefined ? undefined : { choices: JSON.parse(row.choices), unknownTags: row.unknown_tags.split(' ').filter(Boolean) };
  }

  /** Every post's recorded choices (parsed JSON), for the posts that have them: empty without the table. */
  allChoices(): Map<number, unknown> {
    const out = new Map<number, unknown>();
    if (!this.hasTable('tagbooru_choices')) return out;
    const rows = this.db.prepare('SELECT post_id, choices FROM tagbooru_choices').iterate() as IterableIterator<{ post_id: number; choices: string }>;
    for (const row of rows) out.set(row.post_id, JSON.parse(row.choices));
    return out;
  }

  /** Every post's unknown tags (neither positive nor negative), for the posts that have any. */
  unknownTags(): Map<number, string[]> {
    const out = new Map<number, string[]>();
    if (!this.hasTable('tagbooru_choices')) return out;
    const rows = this.db.prepare("SELECT post_id, unknown_tags FROM tagbooru_choices WHERE unknown_tags != ''").iterate() as IterableIterator<{ post_id: number; unknown_tags: string }>;
    for (const row of rows) out.set(row.post_id, row.unknown_tags.split(' ').filter(Boolean));
    return out;
  }

  /** Run `fn` in one transaction: all of its writes land or none do. */
  transaction<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn)();
    } catch (e) {
      if (e instanceof TagbooruError) throw e;
      throw new TagbooruError('E_IO', `cannot write to ${this.path}: ${errorMessage(e)}`, { cause: e });
    }
  }

  private hasTable(name: string): boolean {
    return this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
  }

  private ensureTagbooruTables(): void {
    for (const ddl of TAGBOORU_DDL) this.db.exec(ddl);
  }
}

/** `tag_string` to tags: space-separated, empty pieces dropped. */
export function splitTags(tagString: string): string[] {
  return tagString.split(' ').filter(Boolean);
}
