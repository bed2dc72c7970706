/** Result writers for `tag --format`: each writes as results arrive, so 10,000 images stream. */
import { oodJson } from '../infer/ood.ts';
import type { TagResult } from '../infer/tagger.ts';
import { roundScore } from '../infer/rounding.ts';
import type { Io } from './command.ts';

export const FORMATS = ['table', 'json', 'jsonl', 'csv'] as const;
export type Format = (typeof FORMATS)[number];

export interface ResultWriter {
  write(r: TagResult): void;
  end(): void;
}

/** The public JSON shape: `{ file, tags: [{ name, category, score }], rating, error, ood? }` (`ood` when the bundle has a fitted score). */
export function toJson(r: TagResult) {
  return {
    file: r.file,
    tags: r.tags.map((t) => ({ name: t.name, category: t.category, score: roundScore(t.score) })),
    rating: r.rating ? { name: r.rating.name, score: roundScore(r.rating.score) } : null,
    error: r.error,
    ...(r.ood && { ood: oodJson(r.ood) }),
  };
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function createWriter(format: Format, io: Io): ResultWriter {
  const out = io.stdout;
  switch (format) {
    case 'jsonl':
      return { write: (r) => out.write(`${JSON.stringify(toJson(r))}\n`), end: () => undefined };
    case 'json': {
      let first = true;
      return {
        write(r) {
          out.write(`${first ? '[\n' : ',\n'}${JSON.stringify(toJson(r))}`);
          first = false;
        },
        end: () => out.write(first ? '[]\n' : '\n]\n'),
      };
    }
    case 'csv':
      out.write('file,tag,category,score,error\n');
      return {
        write(r) {
          const f = csvField(r.file);
          if (r.error !== null) return void out.write(`${f},,,,${csvField(r.error)}\n`);
          const rows = r.rating ? [r.rating, ...r.tags] : r.tags;
          for (const t of rows) out.write(`${f},${csvField(t.name)},${t.category},${roundScore(t.score)},\n`);
        },
        end: () => undefined,
      };
    case 'table':
      return {
        write(r) {
          if (r.error !== null) return; // errors go to stderr, one line each
          const rating = r.rating ? `  [${r.rating.name} ${r.rating.score.toFixed(2)}]` : '';
          out.write(`${r.file}${rating}\n`);
          for (const t of r.tags) out.write(`  ${t.score.toFixed(3)}  ${t.name}${t.category === 'general' ? '' : `  (${t.category})`}\n`);
        },
        end: () => undefined,
      };
  }
}
