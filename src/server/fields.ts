/**
 * Form fields and query parameters as typed options. A request names only fields the route knows, each bad
 * value fails with its name, what was expected and what arrived.
 */
import { TagbooruError, invalidOption } from '../errors.ts';
import type { OptionReader } from '../infer/selection-options.ts';
import { parseNumber, parseTagValues } from '../option-values.ts';

const TRUE = new Set(['', '1', 'true', 'on', 'yes']);
const FALSE = new Set(['0', 'false', 'off', 'no']);

export class Fields implements OptionReader {
  constructor(private readonly values: ReadonlyMap<string, readonly string[]>) {}

  /** Errors name a field as it is sent. */
  label(name: string): string {
    return name;
  }

  /** Refuse any field not in `known`, naming it and the known ones. */
  static check(names: Iterable<string>, known: readonly string[]): void {
    for (const name of names) {
      if (!known.includes(name)) throw new TagbooruError('E_USAGE', `unknown field "${name}". Known: ${known.join(', ')}`);
    }
  }

  private one(name: string, trim = true): string | undefined {
    const v = this.values.get(name);
    if (!v || v.length === 0) return undefined;
    if (v.length > 1) throw invalidOption(name, 'one value', v);
    return trim ? v[0]!.trim() : v[0];
  }

  /** As the CLI reads its number flags: plain decimals, unpadded. */
  number(name: string, min: number, max: number, integer = false): number | undefined {
    const raw = this.one(name, false);
    return raw === undefined ? undefined : parseNumber(name, raw, min, max, integer);
  }

  /** As typed, spaces kept: a caption separator `, `. */
  text(name: string): string | undefined {
    return this.one(name, false);
  }

  /** Every value as typed, for lists with their own grammar (escaped commas). */
  all(name: string): readonly string[] | undefined {
    return this.values.get(name);
  }

  boolean(name: string): boolean | undefined {
    const raw = this.one(name)?.toLowerCase();
    if (raw === undefined) return undefined;
    if (TRUE.has(raw)) return true;
    if (FALSE.has(raw)) return false;
    throw invalidOption(name, 'true or false', raw);
  }

  choice<T extends string>(name: string, choices: readonly T[]): T | undefined {
    const raw = this.one(name);
    if (raw === undefined) return undefined;
    if (!(choices as readonly string[]).includes(raw)) throw invalidOption(name, `one of ${choices.join(', ')}`, raw);
    return raw as T;
  }

  /** Repeated fields and comma lists both give lists. */
  list(name: string): string[] | undefined {
    const v = this.values.get(name);
    if (!v) return undefined;
    return v.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  }

  /** `tag=0.6` pairs, repeated or comma separated. */
  pairs(name: string, min: number, max: number): Record<string, number> | undefined {
    const list = this.list(name);
    return list && parseTagValues(name, list, min, max);
  }
}
