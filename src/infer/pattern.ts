/**
 * The pattern language of `include` and `exclude`: an exact name (`long_hair`, `long hair`), a glob (`*_hair`) or a
 * regular expression (`/^long/i`). Patterns come from users (CLI flags, HTTP fields) and run on the server's main
 * thread, so every glob and regular expression runs on RE2 (re2js: no backtracking, time linear in the input), and
 * the work one list can ask for is bounded: its size before compiling, its matching by a deadline.
 */
import { RE2Set } from 're2js';
import { TagbooruError, invalidOption } from '../errors.ts';

export const PATTERN_LIMITS = {
  /** Patterns in one list. */
  count: 256,
  /** Characters in one pattern. */
  length: 1000,
  /** RE2 instructions the globs and regular expressions of one list may compile to; compile time grows with them. */
  program: 2000,
  /** Matching one list against a model's tags stops with an error after this long. */
  matchMs: 1000,
};

/** JavaScript flags RE2 honours, as RE2's inline flags; `u` is RE2's default. */
const FLAGS: Readonly<Record<string, string>> = { i: 'i', m: 'm', s: 's', u: '' };

/** Tags are written `long_hair` in models and `long hair` by people: compare in one form. */
export function normaliseTag(tag: string): string {
  return tag.trim().toLowerCase().replace(/ /g, '_');
}

export type TagMatcher = (tag: string) => boolean;

export interface TagPatterns {
  /** Does `tag` match one of the patterns? */
  matches: TagMatcher;
  /** Which of `tags` match, in their order; stops with an error after `deadlineMs`. */
  mask(tags: readonly string[], deadlineMs?: number): Uint8Array;
}

/** `option` names the list in errors as the caller knows it: `--exclude`, `exclude`. */
export function compilePatterns(patterns: readonly string[], option = 'exclude'): TagPatterns {
  if (patterns.length > PATTERN_LIMITS.count) throw invalidOption(option, `at most ${PATTERN_LIMITS.count} patterns`, patterns);
  const exact = new Set<string>();
  const set = new RE2Set();
  let program = 0;
  for (const raw of patterns) {
    const p = raw.trim();
    if (p.length > PATTERN_LIMITS.length) {
      throw invalidOption(option, `a pattern of at most ${PATTERN_LIMITS.length} characters`, `${p.slice(0, 40)}…`, `${p.length} characters`);
    }
    if (!p) continue;
    const source = re2Source(p, option);
    if (source === null) {
      exact.add(normaliseTag(p));
      continue;
    }
    program += programBound(source);
    if (program > PATTERN_LIMITS.program) {
      throw invalidOption(option, `patterns that compile to at most ${PATTERN_LIMITS.program} RE2 instructions`, p,
        `the list reaches about ${program} (a counted repeat such as {100} copies what it repeats)`);
    }
    try {
      set.add(source);
    } catch (e) {
      throw invalidOption(option, 'a regular expression RE2 can run', p, unsupported(p, e));
    }
  }
  const matcher = program > 0 ? compileSet(set) : null;
  const matches = (tag: string) => {
    const n = normaliseTag(tag);
    if (exact.has(n)) return true;
    if (!matcher) return false;
    // `/long hair/` and `/^long_hair/` both match long_hair; `/LONG/` a model's own capitals
    const spaced = n.replace(/_/g, ' ');
    return matcher(n) || (spaced !== n && matcher(spaced)) || (tag !== n && matcher(tag));
  };
  return {
    matches,
    mask(tags, deadlineMs = PATTERN_LIMITS.matchMs) {
      const out = new Uint8Array(tags.length);
      const deadline = performance.now() + deadlineMs;
      for (let i = 0; i < tags.length; i++) {
        out[i] = matches(tags[i]!) ? 1 : 0;
        if ((i & 15) === 15 && performance.now() > deadline) {
          throw new TagbooruError('E_USAGE', `Expected patterns that match ${tags.length} tags within ${deadlineMs} ms for ${option} `
            + `but received ${patterns.map((p) => `"${p}"`).join(', ')}: simplify the regular expressions, or list tags by name`);
        }
      }
      return out;
    },
  };
}

export function compileMatcher(patterns: readonly string[], option = 'exclude'): TagMatcher {
  return compilePatterns(patterns, option).matches;
}

/** RE2 source of a glob or a `/regular expression/flags`; null for an exact name. */
function re2Source(p: string, option: string): string | null {
  const close = p.lastIndexOf('/');
  if (p.startsWith('/') && close > 0 && /^[a-zA-Z]*$/.test(p.slice(close + 1))) {
    let inline = '';
    for (const flag of p.slice(close + 1)) {
      if (FLAGS[flag] === undefined) throw invalidOption(option, 'a regular expression RE2 can run', p, `flag ${flag} is not supported (${Object.keys(FLAGS).join(', ')} are)`);
      if (inline.includes(flag)) throw invalidOption(option, 'a regular expression RE2 can run', p, `flag ${flag} is given twice`);
      inline += FLAGS[flag];
    }
    const body = p.slice(1, close);
    return inline ? `(?${inline})${body}` : body;
  }
  if (!p.includes('*')) return null;
  return `^${normaliseTag(p).split('*').map(quote).join('.*')}$`;
}

/** RE2 syntax for a literal string (the characters RE2 treats as operators, escaped). */
function quote(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

function compileSet(set: RE2Set): TagMatcher {
  set.compile();
  return (s) => set.match(s).length > 0;
}

/** Why RE2 refused `pattern`, in a user's terms for what JavaScript has and RE2 leaves out on purpose. */
function unsupported(pattern: string, error: unknown): string {
  if (/\\[1-9]|\\k</.test(pattern)) return 'backreferences are not supported';
  if (/\(\?<?[=!]/.test(pattern)) return 'lookahead and lookbehind are not supported';
  return (error instanceof Error ? error.message : String(error)).replace(/^error parsing regexp: /, '');
}

/**
 * An upper bound on the RE2 instructions `source` compiles to, read before RE2 sees it: a pattern of 8 characters,
 * `.{0,999}`, compiles to 2000, and RE2 would take seconds over a list of them. Each literal, class or escape counts
 * one, a group what it holds, and a counted repeat multiplies what it follows.
 */
export function programBound(source: string): number {
  const outer: { total: number; last: number }[] = [];
  let total = 0, last = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    let atom = 1;
    if (c === '\\') {
      const e = source[i + 1];
      if (e === 'Q') {
        const end = source.indexOf('\\E', i + 2);
        const stop = end < 0 ? source.length : end;
        atom = Math.max(1, stop - i - 2);
        i = end < 0 ? source.length : end + 1;
      } else if ((e === 'p' || e === 'P' || e === 'x') && source[i + 2] === '{') {
        const end = source.indexOf('}', i + 3);
        i = end < 0 ? source.length : end;
      } else i += e === 'p' || e === 'P' ? 2 : 1;
    } else if (c === '[') {
      i = classEnd(source, i);
    } else if (c === '(') {
      outer.push({ total, last });
      total = last = 0;
      continue;
    } else if (c === ')') {
      atom = total + 2;
      ({ total, last } = outer.pop() ?? { total: 0, last: 0 });
    } else if (c === '|') {
      total += 1;
      last = 0;
      continue;
    } else if (c === '*' || c === '+' || c === '?') {
      total += 2;
      last += 2;
      continue;
    } else if (c === '{') {
      const repeat = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i, i + 24));
      if (repeat) {
        const min = Number(repeat[1]);
        const max = repeat[2] === undefined ? min : repeat[3] ? Number(repeat[3]) : min + 1;
        const times = Math.max(1, min, max);
        total += last * (times - 1) + Math.abs(max - min) + 2;
        last = last * times + Math.abs(max - min) + 2;
        i += repeat[0].length - 1;
        continue;
      }
    }
    total += atom;
    last = atom;
  }
  while (outer.length > 0) total += outer.pop()!.total;
  return total;
}

/** The index of the `]` closing the class opened at `start`: a `]` first is a member, as is `[:alpha:]`. */
function classEnd(source: string, start: number): number {
  let j = start + 1;
  if (source[j] === '^') j++;
  if (source[j] === ']') j++;
  for (; j < source.length && source[j] !== ']'; j++) {
    if (source[j] === '\\') j++;
    else if (source[j] === '[' && source[j + 1] === ':') {
      const end = source.indexOf(':]', j + 2);
      if (end >= 0) j = end + 1;
    }
  }
  return j;
}
