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

/** `tag=0.6` pairs: the tag before the last `=`, a number after. */
export function parseTagValues(name: string, pairs: readonly string[], min: number, max: number): Record<string, number> {
  return Object.fromEntries(pairs.map((pair) => {
    const at = pair.lastIndexOf('=');
    if (at <= 0) throw invalidOption(name, 'tag=value', pair);
    return [pair.slice(0, at), parseNumber(`${name} ${pair.slice(0, at)}`, pair.slice(at + 1), min, max)];
  }));
}

/** The options that were given, `undefined` dropped, so that `{ ...DEFAULTS, ...defined(options) }` lets the library's defaults win. */
export function defined<T extends object>(options: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
