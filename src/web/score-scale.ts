/**
 * How a score is drawn and written. A model whose sigmoid saturates (the bundled one gives 0.998, 0.99996 and
 * 0.9999999 to tags of one image) shows 1.00 and a full bar for all of them when bars are linear, while a bar
 * wholly on the log-odds scale squeezes the 0.3–0.9 where most models' scores and thresholds lie. So the bar is
 * linear up to 0.99, and above it counts nines: 0.999, 0.9999, … each add the same length. The label keeps the
 * digits that tell saturated scores apart.
 */

/** Linear up to here, over this share of the bar. */
const LINEAR_TO = 0.99;
const LINEAR_SHARE = 2 / 3;
/** Full at 0.999999, six nines: float32 has only a few steps left above it. */
const FULL_NINES = 6;
/** Where the bar's marks fall, so a reader can tell 0.99 from 0.9999 at a glance. */
export const BAR_MARKS: readonly number[] = [0.5, LINEAR_TO, 0.9999];

/** 0.99 → 2, 0.9999 → 4: how many nines a score has, fractionally. */
const nines = (score: number) => -Math.log10(1 - score);

/** The filled part of a score's bar, 0 to 1. */
export function barFraction(score: number): number {
  if (score <= LINEAR_TO) return (LINEAR_SHARE * Math.max(0, score)) / LINEAR_TO;
  const above = (nines(score) - nines(LINEAR_TO)) / (FULL_NINES - nines(LINEAR_TO));
  return LINEAR_SHARE + (1 - LINEAR_SHARE) * Math.min(1, above);
}

/** Most decimals a label shows: float32 scores below 1 reach 0.99999994. */
const MAX_DECIMALS = 6;

/**
 * Two decimals, and above 0.99 enough to show two significant digits of the distance from 1 (0.9988, 0.99963),
 * cut, never rounded up: 0.999996 must not read 1.00000. A score of exactly 1 is the model's float32 saturating.
 */
export function scoreLabel(score: number): string {
  if (score < LINEAR_TO || score >= 1) return score.toFixed(2);
  const decimals = Math.min(MAX_DECIMALS, Math.ceil(nines(score)) + 1);
  const scale = 10 ** decimals;
  // NOTE: 0.99 * 1000 is 989.9999999999999 in binary floating point: floor a hair above, and never up to 1
  return (Math.min(scale - 1, Math.floor(score * scale + 1e-6)) / scale).toFixed(decimals);
}

/** The legend under the tags, from the same numbers the bars are drawn with. */
export const BAR_LEGEND = `Bars are linear up to ${LINEAR_TO}; above it, each further 9 (0.999, 0.9999, …) adds the same length, `
  + `full at 0.${'9'.repeat(FULL_NINES)}. Marks at ${BAR_MARKS.slice(0, -1).join(', ')} and ${BAR_MARKS.at(-1)}.`;
