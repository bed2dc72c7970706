/** Option values as people type them: one grammar for CLI flags and HTTP fields. */
import { invalidOption } from './errors.ts';

/** Plain decimals, `0.35`, `.35`, `1`, `1e-3`; not the hex, binary, octal, `Infinity`, blank or padded text `Number()` takes. */
const DECIMAL = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i;

/** `name` as the caller's users know it: `--threshold`, `threshold`. */
export function parseNumber(name: string, raw: string, min: number, max: number, integer = false): number {
  const v = DECIMAL.test(raw) ? Number(raw) : NaN;
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw invalidOption(name, `${integer ? 'an integer' : 'a number'} between ${min} and ${max}`, raw);
  }
  return v;
}

/**
 * A number or a fraction as papers write pixel budgets, `0.0157` or `4/255` (a JSON number passes as it is), in
 * [min, max], or (min, max] with `openMin`.
 */
export function parseFraction(name: string, raw: string | number, min: number, max: number, openMin = false): number {
  const parts = typeof raw === 'number' ? [raw] : raw.split('/').map((p) => (DECIMAL.test(p) ? Number(p) : NaN));
  const v = parts.length > 2 ? NaN : parts[0]! / (parts[1] ?? 1);
  if (!Number.isFinite(v) || (openMin ? v <= min : v < min) || v > max) {
    throw invalidOption(name, `a number or a fraction like 4/255 in ${openMin ? '(' : '['}${min}, ${max}]`, raw);
  }
  return v;
}

/** `tag=0.6` pairs: the tag before the last `=`, a number after. */
export function parseTagValues(name: string, pairs: readonly string[], min: number, max: number): Record<string, number> {
  return Object.fromEntries(pairs.map((pair) => {
    const at = pair.lastIndexOf('=');
    if (at <= 0) throw invalidOption(name, 'tag=value', pair);
    return [pair.slice(0, at), parseNumber(`${name} ${pair.slice(0, at)}`, pair.slice(at + 1), min, max)];
  }));
}

/** Characters a backslash makes literal in lists and pairs; any other backslash is itself (`\(` stays `\(`). */
const ESCAPABLE = new Set([',', '=', '\\']);

/** `text` cut at each `separator` not escaped by a backslash; escapes are kept for a later cut. */
function splitUnescaped(text: string, separator: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && ESCAPABLE.has(text[i + 1]!)) i++;
    else if (text[i] === separator) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

const unescape = (text: string) => text.replace(/\\([,=\\])/g, '$1').trim();

/** Comma lists, repeated or not, in which `\,` is a comma inside an item: `1girl, solo`. Blank items are dropped. */
export function parseEscapedList(values: readonly string[]): string[] {
  return values.flatMap((v) => splitUnescaped(v, ',')).map(unescape).filter(Boolean);
}

/**
 * `from=to` pairs, repeated or comma separated: `1girls=1girl, chibi=`. `\,`, `\=` and `\\` stand for the
 * characters themselves (kohya's `--tag_replacement` writes `from,to;…` with `\,` and `\;`). `to` may be empty.
 */
export function parseReplacements(name: string, values: readonly string[]): [string, string][] {
  return values.flatMap((v) => splitUnescaped(v, ',')).filter((item) => item.trim() !== '').map((item) => {
    const sides = splitUnescaped(item, '=').map(unescape);
    if (sides.length !== 2 || sides[0] === '') throw invalidOption(name, 'from=to (\\, and \\= for a literal comma or equals sign)', item.trim());
    return [sides[0]!, sides[1]!];
  });
}

/** The options that were given, `undefined` dropped, so that `{ ...DEFAULTS, ...defined(options) }` lets the library's defaults win. */
export function defined<T extends object>(options: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
