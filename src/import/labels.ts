/**
 * Label files, each to a tag list in output order with categories:
 * DeepDanbooru `tags.txt` + `categories.json`, WD `selected_tags.csv`, Camie's metadata JSON.
 */
import fs from 'node:fs/promises';
import { TagbooruError, errorMessage } from '../errors.ts';
import type { TagInfo } from '../infer/bundle.ts';
import { refuseDuplicateTags } from '../infer/tags-file.ts';

async function readText(file: string, what: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new TagbooruError('E_MODEL', `cannot read ${what} ${file}: ${errorMessage(e)}`, { cause: e });
  }
}

async function readJson(file: string, what: string): Promise<unknown> {
  const text = await readText(file, what);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TagbooruError('E_MODEL', `${what} ${file} is not valid JSON: ${errorMessage(e)}`, { cause: e });
  }
}

/** Danbooru's category codes; any other code is kept as its own category. */
const DANBOORU_CATEGORIES: Readonly<Record<string, string>> = { 0: 'general', 1: 'artist', 3: 'copyright', 4: 'character', 5: 'meta', 9: 'rating' };

export function categoryOfCode(code: string): string {
  return DANBOORU_CATEGORIES[code] ?? `category_${code}`;
}

/** RFC 4180 rows: quoted fields may hold commas, quotes ("") and newlines. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], field = '', quoted = false;
  const endField = () => {
    row.push(field);
    field = '';
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch !== '"') field += ch;
      else if (text[i + 1] === '"') field += text[++i];
      else quoted = false;
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') endField();
    else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endField();
      rows.push(row);
      row = [];
    } else field += ch;
  }
  if (field !== '' || row.length > 0) {
    endField();
    rows.push(row);
  }
  return rows.filter((r) => r.length > 1 || r[0] !== '');
}

/** WD's `selected_tags.csv`: `tag_id,name,category,count`, one row per output in order. */
export async function readSelectedTags(file: string): Promise<TagInfo[]> {
  const rows = parseCsv((await readText(file, 'label file')).replace(/^\uFEFF/, ''));
  const header = rows[0]?.map((h) => h.trim().toLowerCase()) ?? [];
  const nameAt = header.indexOf('name'), categoryAt = header.indexOf('category');
  if (nameAt < 0 || categoryAt < 0) {
    throw new TagbooruError('E_MODEL', `label file ${file}: expected a header with name and category columns (tag_id,name,category,count), got "${rows[0]?.join(',') ?? ''}"`);
  }
  const tags = rows.slice(1).map((r, i) => {
    const name = r[nameAt]?.trim(), code = r[categoryAt]?.trim();
    if (!name || !code || !/^\d+$/.test(code)) throw new TagbooruError('E_MODEL', `label file ${file}: row ${i + 2} has no name or a non-numeric category: ${r.join(',')}`);
    return { name, category: categoryOfCode(code) };
  });
  if (tags.length === 0) throw new TagbooruError('E_MODEL', `label file ${file} lists no tags`);
  refuseDuplicateTags(tags.map((t) => t.name), `label file ${file}`, (i) => `row ${i + 2}`);
  return tags;
}

export interface CamieMetadata {
  readonly tags: TagInfo[];
  readonly version: 'v1' | 'v2';
  readonly imageSize: number | null;
  /** A threshold the metadata recommends, when it states one. */
  readonly threshold: number | null;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : null);

/**
 * Camie's metadata JSON. v1 (`model_initial_metadata.json`): top-level `idx_to_tag` and `tag_to_category`.
 * v2 (`camie-tagger-v2-metadata.json`): the same maps under `dataset_info.tag_mapping`, plus `model_info.img_size`.
 */
export async function readCamieMetadata(file: string): Promise<CamieMetadata> {
  const json = obj(await readJson(file, 'Camie metadata'));
  const mapping = obj(obj(json?.dataset_info)?.tag_mapping) ?? obj(json?.tag_mapping) ?? json;
  const idxToTag = mapping?.idx_to_tag;
  if (!mapping || (typeof idxToTag !== 'object' || idxToTag === null)) {
    throw new TagbooruError('E_MODEL', `Camie metadata ${file}: no idx_to_tag map (looked at the top level and dataset_info.tag_mapping)`);
  }
  const entries = Array.isArray(idxToTag) ? idxToTag.map((t, i) => [String(i), t] as const) : Object.entries(idxToTag as Json);
  const names: string[] = [];
  for (const [k, v] of entries) {
    if (!/^\d+$/.test(k) || typeof v !== 'string') throw new TagbooruError('E_MODEL', `Camie metadata ${file}: idx_to_tag entry ${k} → ${JSON.stringify(v)} is not index → tag`);
    names[Number(k)] = v;
  }
  const missing = names.findIndex((n) => n === undefined);
  if (names.length === 0 || missing >= 0 || names.length !== entries.length) {
    throw new TagbooruError('E_MODEL', `Camie metadata ${file}: idx_to_tag must cover 0…${names.length - 1} without gaps${missing >= 0 ? ` (index ${missing} is missing)` : ''}`);
  }
  refuseDuplicateTags(names, `Camie metadata ${file}`, (i) => `index ${i}`);
  const toCategory = obj(mapping.tag_to_category) ?? {};
  const tags = names.map((name) => {
    const c = toCategory[name];
    return { name, category: typeof c === 'string' ? c.toLowerCase() : 'general' };
  });
  const size = obj(json?.model_info)?.img_size;
  const recommendation = obj(json?.usage)?.threshold_recommendation;
  const stated = typeof recommendation === 'number' ? recommendation : typeof recommendation === 'string' ? Number(/\b0?\.\d+\b/.exec(recommendation)?.[0]) : NaN;
  return {
    tags,
    version: obj(json?.dataset_info) ? 'v2' : 'v1',
    imageSize: typeof size === 'number' ? size : null,
    threshold: stated > 0 && stated < 1 ? stated : null,
  };
}
