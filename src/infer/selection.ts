/**
 * Turning a probability vector into tags: thresholds (global, per category, per tag), MCut per category,
 * the rating as an argmax over the rating category, include/exclude lists, and a top-k cap.
 */
import { expectNumberInRange } from '../errors.ts';
import type { TagInfo, Thresholds } from './bundle.ts';
import { compilePatterns, normaliseTag } from './pattern.ts';
import { expectKnownTags } from './tag-names.ts';

export interface SelectionOptions {
  /** One threshold for every category; overrides the bundle's defaults. */
  readonly threshold?: number;
  /** Per-category thresholds, e.g. `{ general: 0.35, character: 0.85 }`. */
  readonly categoryThresholds?: Readonly<Record<string, number>>;
  /** Per-tag thresholds; the most specific setting wins. */
  readonly tagThresholds?: Readonly<Record<string, number>>;
  /** MCut: `true` for general and character, or a list of categories. */
  readonly mcut?: boolean | readonly string[];
  /** Lowest MCut threshold for characters (the WD reference uses 0.15). */
  readonly characterFloor?: number;
  /** Keep at most this many tags (highest scores first). */
  readonly topK?: number;
  /** Keep only tags matching one of these (`long_hair`, `long hair`, `/regex/i`, `*_hair`). */
  readonly include?: readonly string[];
  /** Drop tags matching one of these. */
  readonly exclude?: readonly string[];
}

export interface ScoredTag {
  readonly name: string;
  readonly category: string;
  readonly score: number;
}

export interface Selection {
  readonly tags: ScoredTag[];
  readonly rating: ScoredTag | null;
}

export const RATING_CATEGORY = 'rating';

/** The library's defaults, which the CLI and the HTTP API show rather than restate. */
export const SELECTION_DEFAULTS = { characterFloor: 0.15 } as const satisfies SelectionOptions;
/** The valid range of each number, for the library's checks and the CLI's and HTTP's parsing alike. */
export const SELECTION_LIMITS = { threshold: [0, 1], topK: [1, 1_000_000] } as const;
const MCUT_DEFAULT = ['general', 'character'];

/** Largeron et al. 2012: the midpoint of the largest gap between neighbouring sorted scores. */
export function mcutThreshold(scores: readonly number[]): number {
  const sorted = [...scores].sort((a, b) => b - a);
  if (sorted.length < 2) return sorted.length === 1 ? sorted[0]! : 1;
  let best = 0, at = 0;
  for (let i = 0; i + 1 < sorted.length; i++) {
    const gap = sorted[i]! - sorted[i + 1]!;
    if (gap > best) [best, at] = [gap, i];
  }
  return (sorted[at]! + sorted[at + 1]!) / 2;
}

export { compileMatcher, normaliseTag, type TagMatcher } from './pattern.ts';

export function validateSelection(o: SelectionOptions): void {
  const [low, high] = SELECTION_LIMITS.threshold;
  if (o.threshold !== undefined) expectNumberInRange('threshold', o.threshold, low, high);
  for (const [k, v] of Object.entries(o.categoryThresholds ?? {})) expectNumberInRange(`${k} threshold`, v, low, high);
  for (const [k, v] of Object.entries(o.tagThresholds ?? {})) expectNumberInRange(`threshold of ${k}`, v, low, high);
  if (o.characterFloor !== undefined) expectNumberInRange('characterFloor', o.characterFloor, low, high);
  if (o.topK !== undefined) expectNumberInRange('topK', o.topK, ...SELECTION_LIMITS.topK, true);
}

/** Everything that does not depend on the image, computed once per tagging run. */
export interface CompiledSelection {
  select(scores: ArrayLike<number>): Selection;
}

export function compileSelection(tags: readonly TagInfo[], defaults: Thresholds, options: SelectionOptions = {}): CompiledSelection {
  validateSelection(options);
  const n = tags.length;
  const thresholds = new Float64Array(n);
  const keep = new Uint8Array(n);
  expectKnownTags('tagThresholds', Object.keys(options.tagThresholds ?? {}), tags);
  const names = tags.map((t) => t.name);
  const include = options.include?.length ? compilePatterns(options.include, 'include').mask(names) : null;
  const exclude = options.exclude?.length ? compilePatterns(options.exclude, 'exclude').mask(names) : null;
  const userTag = new Map(Object.entries(options.tagThresholds ?? {}).map(([k, v]) => [normaliseTag(k), v]));
  const bundleTag = new Map(Object.entries(defaults.tags ?? {}).map(([k, v]) => [normaliseTag(k), v]));
  const mcutCats = new Set(options.mcut === true ? MCUT_DEFAULT : options.mcut === false || !options.mcut ? [] : options.mcut);
  const ratingIdx: number[] = [];
  const byCategory = new Map<string, number[]>();
  tags.forEach((t, i) => {
    if (t.category === RATING_CATEGORY) return void ratingIdx.push(i);
    const key = normaliseTag(t.name);
    thresholds[i] = userTag.get(key) ?? options.categoryThresholds?.[t.category] ?? options.threshold
      ?? bundleTag.get(key) ?? defaults.categories?.[t.category] ?? defaults.default;
    keep[i] = (!include || include[i]) && !exclude?.[i] ? 1 : 0;
    if (mcutCats.has(t.category)) byCategory.set(t.category, [...(byCategory.get(t.category) ?? []), i]);
  });
  const floor = options.characterFloor ?? SELECTION_DEFAULTS.characterFloor;

  return {
    select(scores) {
      const cut = thresholds.slice();
      for (const [category, idx] of byCategory) {
        let t = mcutThreshold(idx.map((i) => scores[i]!));
        if (category === 'character') t = Math.max(t, floor);
        for (const i of idx) if (!userTag.has(normaliseTag(tags[i]!.name))) cut[i] = t;
      }
      let selected: ScoredTag[] = [];
      for (let i = 0; i < n; i++) {
        if (keep[i] && scores[i]! >= cut[i]!) selected.push({ name: tags[i]!.name, category: tags[i]!.category, score: scores[i]! });
      }
      selected.sort((a, b) => b.score - a.score);
      if (options.topK !== undefined) selected = selected.slice(0, options.topK);
      let rating: ScoredTag | null = null;
      for (const i of ratingIdx) if (!rating || scores[i]! > rating.score) rating = { name: tags[i]!.name, category: RATING_CATEGORY, score: scores[i]! };
      return { tags: selected, rating };
    },
  };
}
