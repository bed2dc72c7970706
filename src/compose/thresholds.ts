/**
 * An ensemble's default thresholds: for each tag, the mean over the members that know it of the threshold each
 * would use for it (its per-tag, else its category's, else its default). Written as compactly as the members'
 * own: a mean default, mean category thresholds, and per-tag entries only where the tag's mean differs.
 */
import type { TagInfo, Thresholds } from '../infer/bundle.ts';

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export function resolvedThreshold(t: Thresholds, tag: TagInfo): number {
  return t.tags?.[tag.name] ?? t.categories?.[tag.category] ?? t.default;
}

export function averagedThresholds(members: readonly { tags: readonly TagInfo[]; thresholds: Thresholds }[], union: readonly TagInfo[]): Thresholds {
  const byName = members.map((m) => new Map(m.tags.map((t) => [t.name, t])));
  const categories = [...new Set(members.flatMap((m) => Object.keys(m.thresholds.categories ?? {})))];
  const out: { default: number; categories?: Record<string, number>; tags?: Record<string, number> } = {
    default: mean(members.map((m) => m.thresholds.default)),
  };
  if (categories.length) out.categories = Object.fromEntries(categories.map((c) => [c, mean(members.map((m) => m.thresholds.categories?.[c] ?? m.thresholds.default))]));
  const tags: Record<string, number> = {};
  for (const tag of union) {
    const value = mean(members.flatMap((m, k) => {
      const own = byName[k]!.get(tag.name);
      return own ? [resolvedThreshold(m.thresholds, own)] : [];
    }));
    if (Math.abs(value - resolvedThreshold(out, tag)) > 1e-9) tags[tag.name] = value;
  }
  if (Object.keys(tags).length) out.tags = tags;
  return out;
}
