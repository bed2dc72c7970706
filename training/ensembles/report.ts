/**
 * The ensembles measurement's results: one row per model (members, best member, mean of members, ensembles,
 * TTA, calibrated, distilled student), its scores per test set from `metrics --format json`, the calibration
 * figures that command reports (when it does), and its latency per image; as JSON and as markdown tables.
 */
import type { Score } from '../ablation/report.ts';

export interface Row {
  readonly name: string;
  /** The bundle folder, relative to the output folder; none for the mean of members. */
  readonly bundle?: string;
  /** scores[set] */
  readonly scores: Record<string, Score>;
  /** Calibration figures of `metrics --format json` on the plain set (any top-level ECE or Brier field). */
  readonly calibration?: Record<string, number>;
  /** Milliseconds per image, `tag` at batch 8 on one thread (decode and preprocessing included). */
  readonly msPerImage?: number;
}

export interface EnsembleResults {
  readonly settings: Record<string, unknown>;
  readonly sets: readonly string[];
  readonly rows: readonly Row[];
  /** What was skipped or chosen, and why (a missing command, the teacher used). */
  readonly notes: readonly string[];
}

/** The top-level numbers of a metrics document whose names say calibration (ece…, brier…). */
export function calibrationOf(metricsJson: string): Record<string, number> | undefined {
  const doc = JSON.parse(metricsJson) as Record<string, unknown>;
  const found = Object.entries(doc).filter((e): e is [string, number] => /ece|brier/i.test(e[0]) && typeof e[1] === 'number');
  return found.length ? Object.fromEntries(found) : undefined;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The mean of each figure over the rows: the typical member. */
export function meanRow(name: string, rows: readonly Row[], sets: readonly string[]): Row {
  const figures = ['macroF1', 'mAP', 'microF1', 'samples'] as const;
  const scores = Object.fromEntries(sets.map((set) => [set, Object.fromEntries(figures.map((f) => [f, mean(rows.map((r) => r.scores[set]![f]))])) as unknown as Score]));
  return { name, scores };
}

/** Tables of mAP and macro-F1 (a row per model, a column per set, the mean of the shifted sets, latency per image relative to the first row), then calibration. */
export function markdownTables(r: EnsembleResults): string {
  const unit = r.rows[0]?.msPerImage;
  const shifted = r.sets.filter((s) => s !== 'plain');
  const table = (figure: 'mAP' | 'macroF1', title: string) => {
    const head = [title, ...r.sets, ...(shifted.length > 1 ? ['mean of shifted'] : []), 'latency (× member 1)'];
    const lines = r.rows.map((row) => {
      const cells = r.sets.map((set) => row.scores[set]?.[figure].toFixed(3) ?? '–');
      if (shifted.length > 1) cells.push(mean(shifted.map((set) => row.scores[set]![figure])).toFixed(3));
      cells.push(row.msPerImage !== undefined && unit ? `${(row.msPerImage / unit).toFixed(2)} (${row.msPerImage.toFixed(1)} ms)` : '–');
      return `| ${row.name} | ${cells.join(' | ')} |`;
    });
    return [`| ${head.join(' | ')} |`, `|---|${head.slice(1).map(() => '---:').join('|')}|`, ...lines].join('\n');
  };
  const keys = [...new Set(r.rows.flatMap((row) => Object.keys(row.calibration ?? {})))];
  const calibration = keys.length
    ? `\n\n| calibration (plain) | ${keys.join(' | ')} |\n|---|${keys.map(() => '---:').join('|')}|\n` +
      r.rows.filter((row) => row.calibration).map((row) => `| ${row.name} | ${keys.map((k) => row.calibration![k]?.toFixed(4) ?? '–').join(' | ')} |`).join('\n')
    : '';
  const notes = r.notes.length ? `\n\n${r.notes.map((n) => `- ${n}`).join('\n')}` : '';
  return `${table('mAP', 'mAP')}\n\n${table('macroF1', 'macro-F1')}${calibration}${notes}\n`;
}
