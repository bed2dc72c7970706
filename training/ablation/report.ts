/**
 * The ablation's results: one score per (arm, test set) from `metrics --format json`, gathered into a JSON
 * document and a markdown table (macro-F1 and mAP per test set × arm, the best arm of each set in bold).
 */
export interface Score {
  readonly macroF1: number;
  readonly mAP: number;
  readonly microF1: number;
  readonly samples: number;
}

export interface Results {
  readonly settings: Record<string, unknown>;
  readonly arms: readonly string[];
  readonly sets: readonly string[];
  /** scores[arm][set] */
  readonly scores: Record<string, Record<string, Score>>;
  /** Wall-clock seconds each arm's train-project runs took (summed over resumes). */
  readonly trainSeconds: Record<string, number>;
}

/** The fields of `metrics --format json` the table uses; anything else is ignored. */
export function scoreOf(metricsJson: string): Score {
  const m = JSON.parse(metricsJson) as Partial<Score>;
  const { macroF1, mAP, microF1, samples } = m;
  if (![macroF1, mAP, microF1, samples].every((x) => typeof x === 'number')) throw new Error(`not a metrics --format json document: ${metricsJson.slice(0, 120)}`);
  return { macroF1: macroF1!, mAP: mAP!, microF1: microF1!, samples: samples! };
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Sample standard deviation; 0 for a single run. */
const sd = (xs: readonly number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));

/** A cell: the mean over runs, and with several runs (training seeds) their standard deviation. */
function cell(values: readonly number[], best: boolean): string {
  if (values.length === 0) return '–';
  const text = values.length > 1 ? `${mean(values).toFixed(3)} ± ${sd(values).toFixed(3)}` : mean(values).toFixed(3);
  return best ? `**${text}**` : text;
}

/**
 * One table per figure: a row per test set, a column per arm, each cell the mean over the runs given (one per
 * training seed; the first run's arms and sets); the best mean in a row is bold. The last row averages the
 * shifted sets within each run first.
 */
export function markdownTables(runs: readonly Results[]): string {
  const { arms, sets } = runs[0]!;
  const table = (figure: 'macroF1' | 'mAP', title: string) => {
    const row = (label: string, valuesOf: (arm: string) => number[]) => {
      const values = arms.map(valuesOf);
      const best = Math.max(...values.filter((v) => v.length).map(mean));
      return `| ${label} | ${values.map((v) => cell(v, v.length > 0 && mean(v) === best)).join(' | ')} |`;
    };
    const defined = (xs: (number | undefined)[]) => xs.filter((v): v is number => v !== undefined);
    return [
      `| ${title} | ${arms.map((a) => `\`${a}\``).join(' | ')} |`,
      `|---|${arms.map(() => '---:').join('|')}|`,
      ...sets.map((set) => row(set, (arm) => defined(runs.map((r) => r.scores[arm]?.[set]?.[figure])))),
      row('mean of shifted', (arm) => defined(runs.map((r) => meanOver(r, arm, figure, (set) => set !== 'plain')))),
    ].join('\n');
  };
  return `${table('macroF1', 'macro-F1')}\n\n${table('mAP', 'mAP')}\n`;
}

/** The results files of an ablation folder's listing, seed 1's (results.json) first, then by seed number. */
export function resultFiles(names: readonly string[]): string[] {
  const seedOf = (f: string) => Number(/^results-seed(\d+)\.json$/.exec(f)?.[1] ?? 1);
  return names.filter((f) => /^results(-seed\d+)?\.json$/.test(f)).sort((a, b) => seedOf(a) - seedOf(b));
}

/** Each arm's training wall time in seconds, one figure per run in the order given: `none` 86 / 62 s, …. */
export function trainTimes(runs: readonly Results[]): string {
  const seconds = (r: Results, arm: string) => (r.trainSeconds[arm] === undefined ? '–' : String(Math.round(r.trainSeconds[arm])));
  return runs[0]!.arms.map((arm) => `\`${arm}\` ${runs.map((r) => seconds(r, arm)).join(' / ')} s`).join(', ');
}

/** The mean of one figure over the test sets `keep` selects that the arm has a score for. */
export function meanOver(r: Results, arm: string, figure: keyof Score, keep: (set: string) => boolean): number | undefined {
  const values = r.sets.filter(keep).map((s) => r.scores[arm]?.[s]?.[figure]).filter((v): v is number => v !== undefined);
  return values.length ? mean(values) : undefined;
}
