/**
 * Caption text for training sets, as kohya's `tag_images_by_wd14_tagger.py` and the A1111 taggers write it: the
 * selected tags in order, renamed, formatted, deduplicated and joined. The CLI's caption files, `/v1/tag`'s
 * `caption` and the web UI's caption box all come from here.
 */
import { expectNumberInRange, invalidOption } from '../errors.ts';
import { parseEscapedList, parseNumber, parseReplacements } from '../option-values.ts';
import { normaliseTag } from './pattern.ts';
import type { ScoredTag, Selection } from './selection.ts';

/** Kaomoji whose underscores are part of the face (the WD reference list). */
export const KAOMOJI: ReadonlySet<string> = new Set([
  '0_0', '(o)_(o)', '+_+', '+_-', '._.', '<o>_<o>', '<|>_<|>', '=_=', '>_<', '3_3', '6_9', '>_o', '@_@', '^_^', 'o_o', 'u_u', 'x_x', '|_|', '||_||',
]);

export const CAPTION_DEFAULTS = { separator: ', ', extension: '.txt' } as const;

export interface CaptionStyle {
  /** `long_hair` → `long hair`, kaomoji kept. */
  readonly replaceUnderscores?: boolean;
  /** `(` → `\(` so prompt parsers do not read them as emphasis (the WD demo's escaping). */
  readonly escapeParens?: boolean;
  /** `(long hair:0.87)` */
  readonly weights?: boolean;
}

/** Steps apply in the order listed: cut, order, rename, put first, format, deduplicate, join. */
export interface CaptionOptions extends CaptionStyle {
  /** At most this many general tags, the highest-scoring; tags of other categories and the rating are not counted. */
  readonly maxTags?: number;
  /** Character tags before the others (kohya's `--character_tags_first`); each group keeps its order. */
  readonly characterFirst?: boolean;
  /** The rating tag first (kohya's `--use_rating_tags`). */
  readonly withRating?: boolean;
  /** `[from, to]`: the tag `from`, in either spelling, is written `to`, or dropped when `to` is empty. One pass: no chains. */
  readonly replace?: readonly (readonly [string, string])[];
  /** These tags first, in this order, when the caption has them (after `replace`); none is added (kohya's `--always_first_tags`). */
  readonly alwaysFirst?: readonly string[];
  /** Between tags (kohya's `--caption_separator`); `, ` by default. */
  readonly separator?: string;
}

export type ExistingCaptionPolicy = 'ignore' | 'overwrite' | 'append' | 'prepend';
export const EXISTING_POLICIES: readonly ExistingCaptionPolicy[] = ['ignore', 'overwrite', 'append', 'prepend'];

export function formatTag(name: string, style: CaptionStyle, score?: number): string {
  let t = style.replaceUnderscores && !KAOMOJI.has(name) ? name.replace(/_/g, ' ') : name;
  if (style.escapeParens) t = t.replace(/([()])/g, '\\$1');
  return style.weights && score !== undefined ? `(${t}:${score.toFixed(2)})` : t;
}

export function captionTags(tags: readonly ScoredTag[], style: CaptionStyle): string[] {
  return tags.map((t) => formatTag(t.name, style, t.score));
}

/** One tag however it is written: `long_hair`, `Long hair`, `(long hair:0.87)`, `star \(sky\)`. */
function tagKey(text: string): string {
  return normaliseTag(text.trim().replace(/^\((.*):[\d.]+\)$/, '$1').replace(/\\([()])/g, '$1'));
}

/** A caption's tags from a selection; everything that does not depend on the image is worked out once, here. */
export function compileCaption(options: CaptionOptions = {}): (selected: Pick<Selection, 'tags' | 'rating'>) => string[] {
  if (options.maxTags !== undefined) expectNumberInRange('maxTags', options.maxTags, 0, 1_000_000, true);
  const renames = new Map(options.replace?.map(([from, to]) => [tagKey(from), to]));
  const first = new Map(options.alwaysFirst?.map((t, i) => [tagKey(t), i]));
  return ({ tags, rating }) => {
    let list = options.maxTags === undefined ? [...tags] : capGeneral(tags, options.maxTags);
    if (options.characterFirst) list = [...list.filter((t) => t.category === 'character'), ...list.filter((t) => t.category !== 'character')];
    if (options.withRating && rating) list.unshift(rating);
    if (renames.size > 0) {
      list = list.flatMap((t) => {
        const to = renames.get(tagKey(t.name));
        return to === undefined ? [t] : to === '' ? [] : [{ ...t, name: to }];
      });
    }
    if (first.size > 0) {
      const rank = (t: ScoredTag) => first.get(tagKey(t.name)) ?? first.size;
      list = list.map((t, i) => ({ t, i })).sort((a, b) => rank(a.t) - rank(b.t) || a.i - b.i).map(({ t }) => t);
    }
    return dedupe(list.map((t) => formatTag(t.name, options, t.score)));
  };
}

/** The `n` highest-scoring general tags, everything else kept, in the order given. */
function capGeneral(tags: readonly ScoredTag[], n: number): ScoredTag[] {
  const kept = new Set(tags.filter((t) => t.category === 'general').sort((a, b) => b.score - a.score).slice(0, n));
  return tags.filter((t) => t.category !== 'general' || kept.has(t));
}

/** `compileCaption`, joined with the options' separator. */
export function compileCaptionText(options: CaptionOptions = {}): (selected: Pick<Selection, 'tags' | 'rating'>) => string {
  const tagsOf = compileCaption(options);
  return (selected) => joinCaption(tagsOf(selected), options.separator);
}

export function joinCaption(tags: readonly string[], separator: string = CAPTION_DEFAULTS.separator): string {
  return tags.join(separator);
}

/** A caption's tags; a separator of spaces alone splits at any run of spaces. */
export function splitCaption(text: string, separator: string = CAPTION_DEFAULTS.separator): string[] {
  const cut = separator.trim();
  return text.split(cut === '' ? /\s+/ : cut).map((s) => s.trim()).filter(Boolean);
}

/** The caption to write given what is already on disk, or null to leave the file as it is. */
export function mergeCaption(existing: string | null, fresh: readonly string[], policy: ExistingCaptionPolicy, separator: string = CAPTION_DEFAULTS.separator): string | null {
  if (existing === null || policy === 'overwrite') return joinCaption(dedupe(fresh), separator);
  if (policy === 'ignore') return null;
  const old = splitCaption(existing, separator);
  return joinCaption(dedupe(policy === 'append' ? [...old, ...fresh] : [...fresh, ...old]), separator);
}

/** First occurrence wins; `long_hair` and `long hair` count as one tag. */
function dedupe(tags: readonly string[]): string[] {
  const seen = new Set<string>();
  return tags.filter((t) => {
    const key = tagKey(t);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The caption options as the CLI's flags and `/v1/tag`'s fields name them, and what each takes. */
export const CAPTION_OPTION_KINDS = {
  'caption-separator': 'text',
  'replace-underscores': 'boolean',
  'escape-parens': 'boolean',
  weights: 'boolean',
  'with-rating': 'boolean',
  'character-first': 'boolean',
  'always-first': 'list',
  replace: 'list',
  'max-tags': 'text',
} as const;

interface RawKinds { text: string; boolean: boolean; list: readonly string[] }

/** What a user typed, before parsing: the CLI's flag values and the server's fields both have this shape. */
export type RawCaptionOptions = { readonly [K in keyof typeof CAPTION_OPTION_KINDS]?: RawKinds[(typeof CAPTION_OPTION_KINDS)[K]] };

/** One parser for the CLI (`prefix` `--`), the server and the web UI, so a value means the same everywhere. */
export function parseCaptionOptions(raw: RawCaptionOptions, prefix = ''): CaptionOptions {
  const separator = raw['caption-separator'];
  if (separator === '') throw invalidOption(`${prefix}caption-separator`, 'one or more characters such as ", "', separator);
  const replace = raw.replace && parseReplacements(`${prefix}replace`, raw.replace);
  const seen = new Map<string, string>();
  for (const [from] of replace ?? []) {
    const twice = seen.get(tagKey(from));
    if (twice !== undefined) throw invalidOption(`${prefix}replace`, 'each tag replaced once', from, `"${twice}" is replaced already`);
    seen.set(tagKey(from), from);
  }
  const maxTags = raw['max-tags'];
  return {
    ...(separator !== undefined && { separator }),
    ...(raw['character-first'] !== undefined && { characterFirst: raw['character-first'] }),
    ...(raw['always-first'] && { alwaysFirst: parseEscapedList(raw['always-first']) }),
    ...(replace && { replace }),
    ...(maxTags !== undefined && { maxTags: parseNumber(`${prefix}max-tags`, maxTags, 0, 1_000_000, true) }),
    ...(raw['replace-underscores'] !== undefined && { replaceUnderscores: raw['replace-underscores'] }),
    ...(raw['escape-parens'] !== undefined && { escapeParens: raw['escape-parens'] }),
    ...(raw.weights !== undefined && { weights: raw.weights }),
    ...(raw['with-rating'] !== undefined && { withRating: raw['with-rating'] }),
  };
}

/** `.txt`, `.caption`: appended to the image's name without its extension, so never a path. */
export function parseCaptionExtension(name: string, raw: string): string {
  if (/^\.[\w-][\w.-]{0,31}$/.test(raw)) return raw;
  const why = /^[\w-][\w.-]*$/.test(raw) ? `did you mean ".${raw}"?` : undefined;
  throw invalidOption(name, 'an extension such as .txt or .caption (a leading dot, no path separator)', raw, why);
}
