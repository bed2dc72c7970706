/** Active tag aliases and implications, restricted to a tag list, as Danbooru's own records. */
import { TagbooruError } from '../errors.ts';
import type { DanbooruClient } from './client.ts';
import { PAGE_SIZE } from './tags.ts';

/** A `tag_aliases` or `tag_implications` record; fields beyond these are kept as Danbooru sent them. */
export interface TagRelation {
  readonly id: number;
  readonly antecedent_name: string;
  readonly consequent_name: string;
  readonly status: string;
  readonly [field: string]: unknown;
}

/** Which records a tag list keeps: an alias maps an old name onto a kept tag; an implication links two kept tags. */
export const RELATIONS = {
  aliases: { endpoint: 'tag_aliases.json', file: 'tag_aliases.json', keep: (r: TagRelation, tags: ReadonlySet<string>) => tags.has(r.consequent_name) },
  implications: { endpoint: 'tag_implications.json', file: 'tag_implications.json', keep: (r: TagRelation, tags: ReadonlySet<string>) => tags.has(r.antecedent_name) && tags.has(r.consequent_name) },
} satisfies Record<string, { endpoint: string; file: string; keep: (r: TagRelation, tags: ReadonlySet<string>) => boolean }>;

export type RelationKind = keyof typeof RELATIONS;

function isRelation(r: unknown): r is TagRelation {
  const x = r as TagRelation | null;
  return typeof x === 'object' && x !== null && Number.isInteger(x.id) && typeof x.antecedent_name === 'string' && typeof x.consequent_name === 'string' && typeof x.status === 'string';
}

/**
 * Pages by id cursor (`page=b<id>`, newest first), which neither skips nor repeats records when
 * relations are added mid-run. Returns the kept records by ascending id.
 */
export async function downloadRelations(client: DanbooruClient, kind: RelationKind, tags: ReadonlySet<string>, onPage?: (kind: RelationKind, seen: number, kept: number) => void): Promise<TagRelation[]> {
  const { endpoint, keep } = RELATIONS[kind];
  const kept = new Map<number, TagRelation>();
  let seen = 0;
  let before: number | undefined;
  for (let page = 1; ; page++) {
    const params = { limit: PAGE_SIZE, 'search[status]': 'active', ...(before !== undefined && { page: `b${before}` }) };
    const json = await client.get(endpoint, params);
    if (!Array.isArray(json) || !json.every(isRelation)) {
      throw new TagbooruError('E_IO', `${kind}, page ${page}: expected an array of records with id, antecedent_name, consequent_name and status but received ${JSON.stringify(json)?.slice(0, 120)}`);
    }
    if (json.length === 0) break;
    const lowest = Math.min(...json.map((r) => r.id));
    if (before !== undefined && lowest >= before) throw new TagbooruError('E_IO', `${kind}: the server ignored page=b${before} (ids did not decrease), so it cannot be paged`);
    before = lowest;
    seen += json.length;
    for (const r of json) if (r.status === 'active' && keep(r, tags)) kept.set(r.id, r);
    onPage?.(kind, seen, kept.size);
  }
  return [...kept.values()].sort((a, b) => a.id - b.id);
}
