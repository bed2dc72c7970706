/**
 * `download-tags` into a project folder: the original's tags-<category>.txt, tags.txt, categories.json
 * and tags_log.json, plus tag_aliases.json and tag_implications.json on request. Nothing is written
 * until every download has succeeded, and then each file goes to a temporary name and is renamed.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagbooruError, errorMessage } from '../errors.ts';
import { writeFilesAtomic } from '../atomic-files.ts';
import type { DanbooruClient } from './client.ts';
import { RELATIONS, downloadRelations, type RelationKind, type TagRelation } from './relations.ts';
import { CATEGORIES, DEFAULT_CATEGORIES, downloadTagLists, type CategoryName, type RatingScheme, type TagLists, type TagQuery } from './tags.ts';

export interface DownloadTagsOptions extends TagQuery {
  readonly categories: readonly CategoryName[];
  readonly ratingScheme: RatingScheme;
  /** Replace an existing tags.txt; without it the run fails before any request, as the original does. */
  readonly overwrite: boolean;
  readonly withRelations: boolean;
  readonly onRelations?: (kind: RelationKind, seen: number, kept: number) => void;
}

export const DOWNLOAD_DEFAULTS = {
  limit: 10_000,
  minimumPostCount: 500,
  categories: DEFAULT_CATEGORIES,
  ratingScheme: '4',
  overwrite: false,
  withRelations: false,
} satisfies Partial<DownloadTagsOptions>;

export interface DownloadSummary {
  readonly dir: string;
  readonly counts: Partial<Record<CategoryName, number>>;
  readonly system: number;
  readonly relations: Partial<Record<RelationKind, number>>;
  /** Written, in order; tags.txt is last, so its presence marks a complete run. */
  readonly files: readonly string[];
}

/** `time.strftime("%Y/%m/%d %H:%M:%S")`, local time. */
export function logDate(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The original's `serialize_as_json`: `json.dumps(indent=4, ensure_ascii=False)`, no final newline. */
const json = (value: unknown) => JSON.stringify(value, null, 4);
const lines = (tags: readonly string[]) => tags.map((t) => `${t}\n`).join('');

/** File name → contents. A category without tags gets no file and no categories.json entry (as the original). */
export function renderTagFiles(lists: TagLists, log: { date: string; limit: number; minimum_post_count: number }, relations: Partial<Record<RelationKind, readonly TagRelation[]>> = {}): [string, string][] {
  const present = lists.categories.filter((c) => c.tags.length > 0);
  const starts = present.map((_, i) => present.slice(0, i).reduce((n, c) => n + c.tags.length, 0));
  const total = present.reduce((n, c) => n + c.tags.length, 0);
  const categoriesJson = [...present.map((c, i) => ({ name: CATEGORIES[c.category].name, start_index: starts[i] })), { name: 'System', start_index: total }];
  return [
    ['tags_log.json', json(log)],
    ...present.map((c): [string, string] => [`tags-${c.category}.txt`, lines(c.tags)]),
    ['categories.json', json(categoriesJson)],
    ...Object.entries(relations).map(([kind, records]): [string, string] => [RELATIONS[kind as RelationKind].file, json(records)]),
    ['tags.txt', lines([...present.flatMap((c) => c.tags), ...lists.system])],
  ];
}

/** Every file staged beside its target, then renamed in order: a failed write replaces none of them. */
export async function writeFilesAtomically(dir: string, files: readonly [string, string][]): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
    await writeFilesAtomic(files.map(([name, contents]) => [path.join(dir, name), contents] as const));
  } catch (e) {
    throw new TagbooruError('E_IO', `cannot write the tag files in ${dir}: ${errorMessage(e)}`, { cause: e });
  }
}

async function checkTarget(dir: string, overwrite: boolean): Promise<void> {
  const stat = await fs.stat(dir).catch(() => undefined);
  if (stat && !stat.isDirectory()) throw new TagbooruError('E_IO', `${dir} is a file, not a project folder`);
  const tagsPath = path.join(dir, 'tags.txt');
  if (!overwrite && (await fs.stat(tagsPath).catch(() => undefined))) {
    throw new TagbooruError('E_USAGE', `Tags file already exists: ${tagsPath}. Pass --overwrite to replace it`);
  }
}

export async function downloadTagsProject(dir: string, client: DanbooruClient, options: Partial<DownloadTagsOptions> = {}): Promise<DownloadSummary> {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<DownloadTagsOptions>;
  const o = { ...DOWNLOAD_DEFAULTS, ...given } satisfies DownloadTagsOptions;
  await checkTarget(dir, o.overwrite);
  const log = { date: logDate(new Date()), limit: o.limit, minimum_post_count: o.minimumPostCount };

  const lists = await downloadTagLists(client, o.categories, o.ratingScheme, o);
  const kept = new Set(lists.categories.flatMap((c) => c.tags));
  if (kept.size === 0) {
    const names = lists.categories.map((c) => c.category).join(', ');
    throw new TagbooruError('E_IO', `no ${names} tags with at least ${o.minimumPostCount} posts at ${client.baseUrl}; nothing written (lower --minimum-post-count?)`);
  }

  const relations: Partial<Record<RelationKind, TagRelation[]>> = {};
  if (o.withRelations) {
    for (const kind of Object.keys(RELATIONS) as RelationKind[]) relations[kind] = await downloadRelations(client, kind, kept, o.onRelations);
  }

  const files = renderTagFiles(lists, log, relations);
  await writeFilesAtomically(dir, files);
  return {
    dir,
    counts: Object.fromEntries(lists.categories.map((c) => [c.category, c.tags.length])),
    system: lists.system.length,
    relations: Object.fromEntries(Object.entries(relations).map(([k, r]) => [k, r.length])),
    files: files.map(([name]) => name),
  };
}
