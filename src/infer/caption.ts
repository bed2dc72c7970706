/** Caption files for training sets: tags joined by ", ", as kohya and the A1111 taggers write them. */
import type { ScoredTag } from './selection.ts';

/** Kaomoji whose underscores are part of the face (the WD reference list). */
export const KAOMOJI: ReadonlySet<string> = new Set([
  '0_0', '(o)_(o)', '+_+', '+_-', '._.', '<o>_<o>', '<|>_<|>', '=_=', '>_<', '3_3', '6_9', '>_o', '@_@', '^_^', 'o_o', 'u_u', 'x_x', '|_|', '||_||',
]);

export interface CaptionStyle {
  /** `long_hair` → `long hair`, kaomoji kept. */
  readonly replaceUnderscores?: boolean;
  /** `(` → `\(` so prompt parsers do not read them as emphasis. */
  readonly escapeParens?: boolean;
  /** `(long hair:0.87)` */
  readonly weights?: boolean;
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

export function splitCaption(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

/** The caption to write given what is already on disk, or null to leave the file as it is. */
export function mergeCaption(existing: string | null, fresh: readonly string[], policy: ExistingCaptionPolicy): string | null {
  if (existing === null || policy === 'overwrite') return dedupe(fresh).join(', ');
  if (policy === 'ignore') return null;
  const old = splitCaption(existing);
  return dedupe(policy === 'append' ? [...old, ...fresh] : [...fresh, ...old]).join(', ');
}

/** First occurrence wins; `long_hair` and `long hair` count as one tag. */
function dedupe(tags: readonly string[]): string[] {
  const seen = new Set<string>();
  return tags.filter((t) => {
    const key = t.replace(/^\((.*):[\d.]+\)$/, '$1').replace(/\\([()])/g, '$1').replace(/ /g, '_').toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
