/**
 * The ensembles measurement's results: one row per model (members, best member, mean of members, ensembles,
 * TTA, calibrated, members trained alone on a student's schedule, distilled students, means over seeds), its
 * scores per test set from `metrics --format json`, the calibration figures that command reports, and its latency
 * per image; as JSON and as markdown tables.
 */
import type { Score } from '../ablation/report.ts';

export interface Row {
  readonly name: string;
  /** The bundle folder, relative to the output folder; none for the mean of members. */
  readonly bundle?: string;
  /** scores[set] */
  readonly scores: Record<string, Score>;
  /** Calibration figures of `metrics --format json` on the plain set (its `calibration` ECE and Brier fields). */
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

/** The calibration figures of a metrics document (`calibration`: ECE and Brier, macro and micro), without its bins. */
export function calibrationOf(metricsJson: string): Record<string, number> | undefined {
  const doc = JSON.parse(metricsJson) as { calibration?: Record<string, unknown> };
  const found = Object.entries(doc.calibration ?? {}).filter((e): e is [string, number] => /ece|brier/i.test(e[0]) && typeof e[1] === 'number');
  return found.length ? Object.fromEntries(found) : undefined;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** A row's figure averaged over the shifted sets (every set but plain), or on the one set there is. */
export function shiftedMean(row: Row, sets: readonly string[], figure: 'mAP' | 'macroF1'): number {
  const shifted = sets.filter((s) => s !== 'plain');
  return mean((shifted.length ? shifted : sets).map((set) => row.scores[set]![figure]));
}

/**
 * The share of the ensemble's gain over a member trained alone that a student keeps, (student − alone) /
 * (ensemble − alone), in mean shifted mAP; none when the ensemble gains nothing over that member.
 */
export function retention(student: Row, alone: Row, ensemble: Row, sets: readonly string[]): number | undefined {
  const [st, al, en] = [student, alone, ensemble].map((r) => shiftedMean(r, sets, 'mAP')) as [number, number, number];
  return en > al ? (st - al) / (en - al) : undefined;
}

/** The note that states a student's retention, with the three figures it comes from. */
export function retentionNote(student: Row, alone: Row, ensemble: Row, sets: readonly string[]): string {
  const f = (r: Row) => shiftedMean(r, sets, 'mAP').toFixed(3);
  const kept = retention(student, alone, ensemble, sets);
  const share = kept === undefined ? `no gain to keep: ${ensemble.name} is not above ${alone.name}` : `keeps ${(100 * kept).toFixed(0)} % of the gain of ${ensemble.name} over ${alone.name}`;
  return `${student.name}: ${share} (mean shifted mAP: ${f(alone)} alone, ${f(ensemble)} ensemble, ${f(student)} student)`;
}

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
      if (shifted.length > 1) cells.push(shiftedMean(row, r.sets, figure).toFixed(3));
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
