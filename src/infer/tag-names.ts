/** Tag names a user typed, checked against a model's: an unknown one is named, with the model's closest tags. */
import { invalidOption } from '../errors.ts';
import type { TagInfo } from './bundle.ts';
import { normaliseTag } from './pattern.ts';

/** Throw for the first of `names` (`long hair` or `long_hair`) that is not a tag of `tags`. */
export function expectKnownTags(option: string, names: Iterable<string>, tags: readonly TagInfo[]): void {
  const known = new Set(tags.map((t) => normaliseTag(t.name)));
  for (const name of names) {
    if (known.has(normaliseTag(name))) continue;
    const close = closestTags(name, tags.map((t) => t.name));
    throw invalidOption(option, 'a tag of the model', name,
      close.length ? `did you mean ${close.join(', ')}?` : `no tag of the model is close to it (its tagger.json lists all ${tags.length})`);
  }
}

/** Up to `count` tags within a few edits of `name`, then tags that start with it; cheap enough for 70,000 tags. */
export function closestTags(name: string, tags: readonly string[], count = 3): string[] {
  const n = normaliseTag(name);
  const most = Math.min(3, Math.max(1, Math.floor(n.length / 3)));
  const scored: { tag: string; score: number }[] = [];
  for (const tag of tags) {
    const t = normaliseTag(tag);
    const d = editDistance(n, t, most);
    if (d <= most) scored.push({ tag, score: d });
    else if (n.length >= 3 && t.startsWith(n)) scored.push({ tag, score: most + 1 });
  }
  return scored.sort((a, b) => a.score - b.score || a.tag.length - b.tag.length).slice(0, count).map((s) => s.tag);
}

/** Levenshtein distance, or `most + 1` as soon as it must exceed `most`. */
function editDistance(a: string, b: string, most: number): number {
  if (Math.abs(a.length - b.length) > most) return most + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let least = i;
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      least = Math.min(least, row[j]!);
    }
    if (least > most) return most + 1;
    previous = row;
  }
  return previous[b.length]!;
}
