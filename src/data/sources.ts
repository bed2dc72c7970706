/**
 * Where training posts come from: a DanbooruDownloader SQLite (`posts` with rating, score, is_deleted),
 * Danbooru metadata dumps (JSON arrays or JSONL), or a folder of images with tag sidecars or a manifest.
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { TagbooruError, errorMessage } from '../errors.ts';
import { openSqlite } from './sqlite.ts';
import { splitTags } from './training-db.ts';

export interface SourcePost {
  readonly id: number;
  readonly md5: string;
  readonly fileExt: string;
  readonly tags: string[];
  readonly tagCountGeneral: number;
  readonly rating: string | null;
  readonly isDeleted: boolean;
}

export interface SourceFilter {
  readonly startId: number;
  readonly endId: number;
  readonly useDeleted: boolean;
  readonly chunkSize: number;
}

export type RatingScheme = 4 | 3;

/** Danbooru's one-letter rating to DeepDanbooru's system tag (4 ratings since 2022-05, 3 before). */
export function ratingTag(rating: string | null, scheme: RatingScheme): string | null {
  const r = rating?.trim().toLowerCase()[0];
  if (!r) return null;
  if (scheme === 4) return ({ g: 'rating:general', s: 'rating:sensitive', q: 'rating:questionable', e: 'rating:explicit' } as Record<string, string>)[r] ?? null;
  return ({ g: 'rating:safe', s: 'rating:safe', q: 'rating:questionable', e: 'rating:explicit' } as Record<string, string>)[r] ?? null;
}

function toBool(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 'true' || v === 't';
}

const text = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

function fromRow(row: Record<string, unknown>, where: string): SourcePost {
  const id = Number(row.id);
  if (!Number.isInteger(id)) throw new TagbooruError('E_USAGE', `${where}: a post has no integer id`);
  const tags = splitTags(text(row.tag_string));
  return {
    id,
    md5: text(row.md5),
    fileExt: text(row.file_ext).toLowerCase(),
    tags,
    tagCountGeneral: row.tag_count_general === undefined || row.tag_count_general === null ? tags.length : Number(row.tag_count_general),
    rating: text(row.rating) || null,
    isDeleted: toBool(row.is_deleted),
  };
}

function keep(p: SourcePost, f: SourceFilter): boolean {
  return p.id >= f.startId && p.id <= f.endId && (f.useDeleted || !p.isDeleted) && p.md5 !== '';
}

/** DanbooruDownloader's SQLite, read in id-ordered chunks as the original does. */
export function* danbooruSqlitePosts(file: string, filter: SourceFilter): Generator<SourcePost> {
  const db = openSqlite(file, { readonly: true });
  try {
    const cols = new Set((db.prepare('PRAGMA table_info(posts)').all() as { name: string }[]).map((c) => c.name));
    if (cols.size === 0) throw new TagbooruError('E_USAGE', `${file} has no posts table (expected DanbooruDownloader's schema)`);
    for (const need of ['id', 'md5', 'file_ext', 'tag_string']) if (!cols.has(need)) throw new TagbooruError('E_USAGE', `${file}: posts has no column ${need}`);
    const pick = ['id', 'md5', 'file_ext', 'tag_string', ...['tag_count_general', 'rating', 'score', 'is_deleted'].filter((c) => cols.has(c))].join(', ');
    const chunk = db.prepare(`SELECT ${pick} FROM posts WHERE id >= ? AND id <= ? ORDER BY id LIMIT ?`);
    let from = filter.startId;
    for (;;) {
      const rows = chunk.all(from, filter.endId, filter.chunkSize) as Record<string, unknown>[];
      if (rows.length === 0) break;
      for (const row of rows) {
        const p = fromRow(row, file);
        if (keep(p, filter)) yield p;
      }
      from = Number(rows[rows.length - 1]!.id) + 1;
    }
  } finally {
    db.close();
  }
}

/** Danbooru post metadata: a JSON array, or one JSON object per line. */
export async function* dumpPosts(file: string, filter: SourceFilter): AsyncGenerator<SourcePost> {
  const first = fs.readFileSync(file, { encoding: 'utf8', flag: 'r' }).trimStart()[0];
  if (first === '[') {
    let rows: unknown;
    try {
      rows = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new TagbooruError('E_USAGE', `${file} is not valid JSON: ${errorMessage(e)}`);
    }
    for (const row of rows as Record<string, unknown>[]) {
      const p = fromRow(row, file);
      if (keep(p, filter)) yield p;
    }
    return;
  }
  let line = 0;
  for await (const text of readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })) {
    line++;
    if (!text.trim()) continue;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new TagbooruError('E_USAGE', `${file}:${line} is not a JSON object`);
    }
    const p = fromRow(row, `${file}:${line}`);
    if (keep(p, filter)) yield p;
  }
}

export interface FolderItem {
  readonly file: string;
  readonly tags: string[];
}

/** Caption tools write `a, b c, d` (comma lists, spaces inside tags) or `a b d` (booru style). */
export function parseSidecar(text: string): string[] {
  const body = text.trim();
  if (!body) return [];
  const parts = body.includes(',') ? body.split(',').map((t) => t.trim().replace(/\s+/g, '_')) : body.split(/\s+/);
  return [...new Set(parts.filter(Boolean))];
}

/** A manifest: CSV with `file` and `tags` columns, or JSONL with `{ "file", "tags" }` (tags a list or a string). */
export function readManifest(file: string): FolderItem[] {
  const text = fs.readFileSync(file, 'utf8');
  const base = path.dirname(file);
  const resolve = (f: string) => path.resolve(base, f);
  if (file.endsWith('.jsonl') || file.endsWith('.json')) {
    return text.split(/\r?\n/).filter((l) => l.trim()).map((l, i) => {
      const row = JSON.parse(l) as { file?: string; tags?: string | string[] };
      if (!row.file) throw new TagbooruError('E_USAGE', `${file}:${i + 1}: missing "file"`);
      return { file: resolve(row.file), tags: Array.isArray(row.tags) ? row.tags : parseSidecar(row.tags ?? '') };
    });
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim());
  const header = csvRow(lines[0] ?? '');
  const fi = header.indexOf('file'), ti = header.indexOf('tags');
  if (fi < 0 || ti < 0) throw new TagbooruError('E_USAGE', `${file}: the CSV header needs "file" and "tags" columns`);
  return lines.slice(1).map((l) => {
    const cells = csvRow(l);
    return { file: resolve(cells[fi] ?? ''), tags: parseSidecar(cells[ti] ?? '') };
  });
}

function csvRow(line: string): string[] {
  const out: string[] = [];
  let cur = '', quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted && ch === '"' && line[i + 1] === '"') {
      cur += '"';
      i++;
    } else if (ch === '"') {
      quoted = !quoted;
    } else if (ch === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  out.push(cur);
  return out.map((c) => c.trim());
}
