/**
 * DeepDanbooru's `natural_sorted` (`deepdanbooru/extra`): split on `(\d+)`, compare digit runs as
 * integers and the rest as strings. The order of tags.txt fixes each tag's output index, so this is
 * the original's exact key, not a locale collation.
 */

// NOTE: not `naturalCompare` (Intl.Collator) from cli/inputs.ts: Python compares text pieces by code
// point and case-sensitively, so `A` < `_` < `a`, and `é` sorts after `~`.
const DIGITS = /(\p{Nd}+)/u;
const DIGIT = /\p{Nd}/u;

/** Python's str ordering: code points, not UTF-16 units (they differ above U+FFFF). */
function compareCodePoints(a: string, b: string): number {
  const x = Array.from(a), y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** The value of a decimal digit in any script: Unicode encodes each script's 0–9 contiguously. */
function digitValue(ch: string): number {
  const cp = ch.codePointAt(0)!;
  if (cp < 128) return cp - 48;
  let zero = cp;
  while (DIGIT.test(String.fromCodePoint(zero - 1))) zero--;
  return (cp - zero) % 10;
}

/** Python's `int(a)` vs `int(b)` for digit runs of any length. */
function compareDigitRuns(a: string, b: string): number {
  const x = Array.from(a, digitValue), y = Array.from(b, digitValue);
  const i = x.findIndex((d) => d !== 0), j = y.findIndex((d) => d !== 0);
  const p = i < 0 ? [] : x.slice(i), q = j < 0 ? [] : y.slice(j);
  if (p.length !== q.length) return p.length - q.length;
  for (let k = 0; k < p.length; k++) if (p[k] !== q[k]) return p[k]! - q[k]!;
  return 0;
}

/** Compares `natural_keys(a)` with `natural_keys(b)`; ties (`a01` vs `a1`) fall back to code points for a stable order. */
export function naturalKeyCompare(a: string, b: string): number {
  // split with a capture group alternates text (even) and digit runs (odd), in both keys alike
  const x = a.split(DIGITS), y = b.split(DIGITS);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = i % 2 === 0 ? compareCodePoints(x[i]!, y[i]!) : compareDigitRuns(x[i]!, y[i]!);
    if (d !== 0) return d;
  }
  return x.length - y.length || compareCodePoints(a, b);
}

export function naturalSorted(items: Iterable<string>): string[] {
  return [...items].sort(naturalKeyCompare);
}
