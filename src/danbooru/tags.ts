/** DeepDanbooru's download-tags: the most-used tags of each category, by post count, from `/tags.json`. */
import { TagbooruError } from '../errors.ts';
import type { DanbooruClient } from './client.ts';
import { naturalSorted } from './natural-sort.ts';

/** Danbooru's category codes (`app/logical/tag_category.rb`). Table order is file order: the original
 * lists general, artist, copyright, character, with artist and copyright commented out. */
export const CATEGORIES = {
  general: { id: 0, name: 'General' },
  artist: { id: 1, name: 'Artist' },
  copyright: { id: 3, name: 'Copyright' },
  character: { id: 4, name: 'Character' },
} satisfies Record<string, { id: number; name: string }>;

export type CategoryName = keyof typeof CATEGORIES;
export const CATEGORY_NAMES = Object.keys(CATEGORIES) as CategoryName[];
export const DEFAULT_CATEGORIES: readonly CategoryName[] = ['general', 'character'];

/** The system tags that end tags.txt. Danbooru split Safe into General and Sensitive on 2022-05-23. */
export const RATING_SCHEMES = {
  '4': ['rating:general', 'rating:sensitive', 'rating:questionable', 'rating:explicit'],
  '3': ['rating:safe', 'rating:questionable', 'rating:explicit'],
} as const satisfies Record<string, readonly string[]>;

export type RatingScheme = keyof typeof RATING_SCHEMES;
// NOTE: not Object.keys(RATING_SCHEMES): integer-like keys enumerate in ascending order
export const RATING_SCHEME_NAMES: readonly RatingScheme[] = ['4', '3'];

/** Tags only gold members may search; the original skips them. */
export const GOLD_ONLY_TAGS: ReadonlySet<string> = new Set(['loli', 'shota', 'toddlercon']);

/** Danbooru's largest page (`app/models/application_record.rb`). */
export const PAGE_SIZE = 1000;

export interface TagQuery {
  /** Tags kept per category. */
  readonly limit: number;
  readonly minimumPostCount: number;
  /** Told after each page: tags kept so far in this category. */
  readonly onPage?: (category: CategoryName, kept: number, page: number) => void;
  readonly onCategory?: (category: CategoryName, count: number) => void;
}

interface TagRow {
  readonly name: string;
  readonly post_count: number;
}

function tagRows(json: unknown, where: string): TagRow[] {
  const ok = Array.isArray(json) && json.every((t) => typeof t === 'object' && t !== null && typeof (t as TagRow).name === 'string' && typeof (t as TagRow).post_count === 'number');
  if (!ok) {
    const got = Array.isArray(json) ? `an array whose items lack them: ${JSON.stringify(json.find((t) => typeof (t as TagRow)?.name !== 'string' || typeof (t as TagRow)?.post_count !== 'number'))?.slice(0, 120)}` : JSON.stringify(json)?.slice(0, 120);
    throw new TagbooruError('E_IO', `${where}: expected an array of tags with name and post_count but received ${got}`);
  }
  return json as TagRow[];
}

/**
 * One category's tags, natural-sorted. Pages run by post count, highest first, and stop at an empty
 * page, at a tag below the minimum (the rest are lower), or at `limit` tags. Gold-only tags are skipped
 * and not counted.
 */
export async function downloadCategoryTags(client: DanbooruClient, category: CategoryName, query: TagQuery): Promise<string[]> {
  const tags = new Set<string>(); // a tag can reappear on the next page when counts change mid-run
  for (let page = 1; ; page++) {
    const params = {
      limit: PAGE_SIZE,
      page,
      'search[order]': 'count',
      'search[category]': CATEGORIES[category].id,
      // filtered on the server where supported, and again below for sites that ignore it
      'search[post_count]': `>=${query.minimumPostCount}`,
    };
    const rows = tagRows(await client.get('tags.json', params), `${category} tags, page ${page}`);
    let below = rows.length === 0;
    for (const row of rows) {
      if (row.post_count < query.minimumPostCount) {
        below = true;
        continue;
      }
      if (GOLD_ONLY_TAGS.has(row.name)) continue;
      tags.add(row.name);
      if (tags.size >= query.limit) break;
    }
    query.onPage?.(category, tags.size, page);
    if (below || tags.size >= query.limit) return naturalSorted(tags);
  }
}

export interface TagLists {
  /** In CATEGORIES order; empty categories included. */
  readonly categories: readonly { readonly category: CategoryName; readonly tags: readonly string[] }[];
  readonly system: readonly string[];
}

export async function downloadTagLists(client: DanbooruClient, categories: readonly CategoryName[], ratingScheme: RatingScheme, query: TagQuery): Promise<TagLists> {
  const lists = [];
  for (const category of CATEGORY_NAMES.filter((c) => categories.includes(c))) {
    const tags = await downloadCategoryTags(client, category, query);
    query.onCategory?.(category, tags.length);
    lists.push({ category, tags });
  }
  return { categories: lists, system: RATING_SCHEMES[ratingScheme] };
}
