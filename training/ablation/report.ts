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

const fmt = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(3));

/** One table per figure: a row per test set, a column per arm; the best value in a row is bold. */
export function markdownTables(r: Results): string {
  const table = (figure: 'macroF1' | 'mAP', title: string) => {
    const head = `| ${title} | ${r.arms.map((a) => `\`${a}\``).join(' | ')} |`;
    const rule = `|---|${r.arms.map(() => '---:').join('|')}|`;
    const rows = r.sets.map((set) => {
      const values = r.arms.map((a) => r.scores[a]?.[set]?.[figure]);
      const best = Math.max(...values.filter((v): v is number => v !== undefined));
      return `| ${set} | ${values.map((v) => (v !== undefined && v === best ? `**${fmt(v)}**` : fmt(v))).join(' | ')} |`;
    });
    const means = r.arms.map((a) => meanOver(r, a, figure, (s) => s !== 'plain'));
    return [head, rule, ...rows, `| mean of shifted | ${means.map(fmt).join(' | ')} |`].join('\n');
  };
  return `${table('macroF1', 'macro-F1')}\n\n${table('mAP', 'mAP')}\n`;
}

/** The mean of one figure over the test sets `keep` selects that the arm has a score for. */
export function meanOver(r: Results, arm: string, figure: keyof Score, keep: (set: string) => boolean): number | undefined {
  const values = r.sets.filter(keep).map((s) => r.scores[arm]?.[s]?.[figure]).filter((v): v is number => v !== undefined);
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : undefined;
}
