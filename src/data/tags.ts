/** `tags.txt` and `categories.json` in DeepDanbooru's formats, and a tag list derived from data. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagbooruError, errorMessage, expectNumberInRange } from '../errors.ts';
import { writeFilesAtomic } from '../atomic-files.ts';

/** DeepDanbooru's `categories.json`: each category starts at an index of `tags.txt`. */
export type CategoryIndex = { name: 'General' | 'Character' | 'System'; start_index: number }[];

export interface TagLists {
  general: readonly string[];
  character?: readonly string[];
  /** `rating:*` (and, once, `score:*`) tags; DeepDanbooru puts them last. */
  system?: readonly string[];
}

/** How many records carry each tag. */
export function countTags(records: Iterable<{ tags: readonly string[] }>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of records) {
    for (const t of new Set(r.tags)) counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  return counts;
}

/**
 * DeepDanbooru's `natural_sorted`: split on runs of digits, compare those as numbers and the rest
 * case-insensitively, so `2others` sorts before `10others`.
 */
export function naturalCompare(a: string, b: string): number {
  const pa = a.toLowerCase().split(/(\d+)/), pb = b.toLowerCase().split(/(\d+)/);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!, y = pb[i]!;
    if (x === y) continue;
    // odd pieces are the digit runs
    if (i % 2 === 1) return Number(x) - Number(y) || x.length - y.length;
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * The tags that occur at least `minimumCount` times, as a `tags.txt` would list them: general tags
 * naturally sorted, then `rating:*` tags last (system category), as DeepDanbooru's `download-tags` orders them.
 */
export function deriveTagLists(counts: ReadonlyMap<string, number>, minimumCount: number): Required<TagLists> {
  expectNumberInRange('minimumCount', minimumCount, 1, Number.MAX_SAFE_INTEGER, true);
  const kept = [...counts].filter(([, n]) => n >= minimumCount).map(([t]) => t);
  const isSystem = (t: string) => t.startsWith('rating:') || t.startsWith('score:');
  return {
    general: kept.filter((t) => !isSystem(t)).sort(naturalCompare),
    character: [],
    system: kept.filter(isSystem).sort(naturalCompare),
  };
}

export function categoryIndex(lists: TagLists): CategoryIndex {
  const nG = lists.general.length, nC = lists.character?.length ?? 0;
  return [
    { name: 'General', start_index: 0 },
    { name: 'Character', start_index: nG },
    { name: 'System', start_index: nG + nC },
  ];
}

/** Write `tags.txt` (one tag per line) and `categories.json` into `dir`. */
export async function writeTagFiles(dir: string, lists: TagLists): Promise<{ tagsPath: string; categoriesPath: string }> {
  const tags = [...lists.general, ...(lists.character ?? []), ...(lists.system ?? [])];
  const bad = tags.find((t) => t === '' || /\s/.test(t));
  if (bad !== undefined) throw new TagbooruError('E_USAGE', `Expected tags without whitespace for tags.txt but received "${bad}"`);
  const duplicate = tags.find((t, i) => tags.indexOf(t) !== i);
  if (duplicate !== undefined) throw new TagbooruError('E_USAGE', `tag "${duplicate}" appears twice in the tag lists`);
  const tagsPath = path.join(dir, 'tags.txt'), categoriesPath = path.join(dir, 'categories.json');
  try {
    await fs.mkdir(dir, { recursive: true });
    await writeFilesAtomic([[tagsPath, tags.map((t) => `${t}\n`).join('')], [categoriesPath, `${JSON.stringify(categoryIndex(lists))}\n`]]);
  } catch (e) {
    throw new TagbooruError('E_IO', `cannot write tag files in ${dir}: ${errorMessage(e)}`, { cause: e });
  }
  return { tagsPath, categoriesPath };
}
