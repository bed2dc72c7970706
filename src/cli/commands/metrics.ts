import fs from 'node:fs/promises';
import path from 'node:path';
import { TrainingDatabase } from '../../data/training-db.ts';
import { parseSidecar } from '../../data/sources.ts';
import { isValidation } from '../../data/split.ts';
import { TagbooruError } from '../../errors.ts';
import { readRegularTextIfExists } from '../../regular-files.ts';
import { IMAGE_EXTENSIONS } from '../../image/index.ts';
import { readBundle } from '../../infer/bundle.ts';
import { createTagger } from '../../tagger.ts';
import { choiceSlices } from '../../dataset/synthetic/choices.ts';
import { computeMetrics, formatMetricsTable } from '../../train/metrics.ts';
import { SLICE_NOTE, formatSliceTable, sliceMetrics } from '../../train/slice-metrics.ts';
import { choiceOption, defineCommand, listOption, numberOption } from '../command.ts';
import { collectAll } from '../inputs.ts';
import { resolveModel } from '../model-option.ts';
import { createProgress } from '../progress.ts';

interface Labelled {
  readonly file: string;
  readonly tags: readonly string[];
  /** Tags the database records as unknown for this image: neither positive nor negative. */
  readonly unknown: readonly string[];
  /** Its slices under each `--by` key, from the generator's recorded choices; null without them. */
  readonly slices: Map<string, string[]> | null;
}

export const metricsCommand = defineCommand({
  name: 'metrics',
  usage: 'metrics [<bundle>] <training.sqlite | folder with .txt sidecars> [--by style,rendering,…] [--format table|json]',
  options: {
    model: { type: 'string', short: 'm', placeholder: 'bundle', description: 'model bundle (default: the bundled model)' },
    format: { type: 'string', short: 'f', placeholder: 'table|json', description: 'output format', default: 'table' },
    threshold: { type: 'string', placeholder: '0–1', description: 'one threshold for every tag (default: the bundle\'s fitted per-tag thresholds, else 0.5)' },
    all: { type: 'boolean', description: 'score every post of a database, not just the validation split the bundle records' },
    'batch-size': { type: 'string', placeholder: 'n', description: 'images per inference batch', default: '16' },
    by: { type: 'string', multiple: true, placeholder: 'key', description: 'also score each slice of the generator\'s recorded choices: style, rendering, characters, face-size, corruption, … (repeatable; one table per key)' },
  },
  details: 'Given the training database, only the validation split recorded in the bundle is scored: never images the model trained on. ' +
    'Tags the database records as unknown for an image (make-dataset synthetic\'s unknown_tags) count neither as positive nor as negative. ' +
    `--by: ${SLICE_NOTE}; face-size buckets the largest character's side in quarters of the image side.`,

  async run({ values: v, positionals }, io) {
    const [modelArg, data] = positionals.length >= 2 ? positionals : [v.model, positionals[0]];
    if (!data) throw new TagbooruError('E_USAGE', `metrics: usage: tagbooru ${this.usage}`);
    const format = choiceOption('format', v.format, ['table', 'json'] as const) ?? 'table';
    const global = numberOption('threshold', v.threshold, 0, 1);
    const bundle = await readBundle(resolveModel(modelArg, io.env));
    const items = (await fs.stat(data)).isDirectory() ? await folderItems(data, io.stdin) : databaseItems(data, bundle.manifest.provenance, v.all ?? false);
    if (items.length === 0) throw new TagbooruError('E_USAGE', `no labelled images in ${data}`);
    const by = listOption(v.by) ?? [];
    checkSliceKeys(by, items, data);
    const names = bundle.manifest.tags.map((t) => t.name);
    const index = new Map(names.map((n, i) => [n, i]));
    const tagger = await createTagger(bundle);
    const probs: number[] = [], labels: number[] = [], known: number[] = [];
    const scored: Labelled[] = [];
    let failed = 0;
    try {
      const progress = createProgress(io, items.length);
      let done = 0, i = 0;
      for await (const r of tagger.stream(items.map((it) => it.file), { scores: true, batchSize: numberOption('batch-size', v['batch-size'], 1, 4096, true) ?? 16 })) {
        const item = items[i++]!;
        progress.update(++done);
        if (r.error !== null || !r.scores) {
          failed++;
          progress.log(`error: ${r.file}: ${r.error}`);
          continue;
        }
        probs.push(...r.scores);
        scored.push(item);
        labels.push(...multiHot(item.tags, index, 0, 1));
        known.push(...multiHot(item.unknown, index, 1, 0));
      }
      progress.finish();
    } finally {
      await tagger.close();
    }
    const fitted = bundle.manifest.thresholds.tags;
    const thresholds = global ?? names.map((n) => fitted?.[n] ?? bundle.manifest.thresholds.default);
    const m = computeMetrics(probs, labels, names, thresholds, known);
    const set = { probs, labels, known, tagNames: names, thresholds };
    const slices = by.map((key) => sliceMetrics(set, key, scored.map((it) => it.slices?.get(key))));
    if (format === 'json') {
      io.stdout.write(`${JSON.stringify({ model: bundle.dir, data, ...m, ...(by.length > 0 && { slices: Object.fromEntries(slices.map((t) => [t.key, t.rows])), slicesNote: SLICE_NOTE }) }, null, 1)}\n`);
    } else {
      io.stdout.write(`${[formatMetricsTable(m), ...slices.map(formatSliceTable), ...(by.length > 0 ? [SLICE_NOTE] : [])].join('\n\n')}\n`);
    }
    return failed > 0 ? 1 : 0;
  },
});

/** One row over the tags: `on` where a listed tag sits, `off` elsewhere. */
function multiHot(listed: readonly string[], index: ReadonlyMap<string, number>, off: number, on: number): number[] {
  const row = new Array<number>(index.size).fill(off);
  for (const t of listed) {
    const j = index.get(t);
    if (j !== undefined) row[j] = on;
  }
  return row;
}

/** Before any image is scored: every `--by` key must be a slice some item's recorded choices give. */
function checkSliceKeys(by: readonly string[], items: readonly Labelled[], data: string): void {
  if (by.length === 0) return;
  const present = new Set(items.flatMap((it) => [...(it.slices?.keys() ?? [])]));
  if (present.size === 0) throw new TagbooruError('E_USAGE', `--by needs the generator's recorded choices (the tagbooru_choices table of a make-dataset synthetic database), and ${data} has none`);
  const unknown = by.filter((k) => !present.has(k));
  if (unknown.length > 0) throw new TagbooruError('E_USAGE', `--by ${unknown.join(',')}: not a recorded choice in ${data}; expected one of ${[...present].sort().join(', ')}`);
}

function databaseItems(file: string, provenance: Readonly<Record<string, unknown>>, all: boolean): Labelled[] {
  const split = provenance.validation as { fraction?: number } | undefined;
  if (!all && split?.fraction === undefined) throw new TagbooruError('E_USAGE', `the bundle records no validation split, so any post may have been trained on; add --all to score every post anyway`);
  const db = TrainingDatabase.open(file, { readonly: true });
  try {
    const unknown = db.unknownTags(), choices = db.allChoices();
    return [...db.records()].filter((r) => all || isValidation(r.id, split!.fraction!)).map((r) => ({
      file: r.path, tags: r.tags, unknown: unknown.get(r.id) ?? [], slices: choices.has(r.id) ? choiceSlices(choices.get(r.id)) : null,
    }));
  } finally {
    db.close();
  }
}

async function folderItems(dir: string, stdin: NodeJS.ReadableStream): Promise<Labelled[]> {
  const files = await collectAll([dir], { recursive: true, extensions: IMAGE_EXTENSIONS, stdin });
  const out: Labelled[] = [];
  for (const file of files) {
    const text = await readRegularTextIfExists(path.join(path.dirname(file), `${path.parse(file).name}.txt`)).catch(() => null);
    if (text !== null) out.push({ file, tags: parseSidecar(text), unknown: [], slices: null });
  }
  return out;
}
