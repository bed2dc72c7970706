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
import { computeMetrics, formatMetricsTable } from '../../train/metrics.ts';
import { choiceOption, defineCommand, numberOption } from '../command.ts';
import { DEFENCE_OPTIONS, readDefenceOptions } from '../defence-option.ts';
import { collectAll } from '../inputs.ts';
import { resolveModel } from '../model-option.ts';
import { createProgress } from '../progress.ts';

interface Labelled {
  readonly file: string;
  readonly tags: readonly string[];
}

export const metricsCommand = defineCommand({
  name: 'metrics',
  usage: 'metrics [<bundle>] <training.sqlite | folder with .txt sidecars> [--format table|json]',
  options: {
    model: { type: 'string', short: 'm', placeholder: 'bundle', description: 'model bundle (default: the bundled model)' },
    format: { type: 'string', short: 'f', placeholder: 'table|json', description: 'output format', default: 'table' },
    threshold: { type: 'string', placeholder: '0–1', description: 'one threshold for every tag (default: the bundle\'s fitted per-tag thresholds, else 0.5)' },
    all: { type: 'boolean', description: 'score every post of a database, not just the validation split the bundle records' },
    'batch-size': { type: 'string', placeholder: 'n', description: 'images per inference batch', default: '16' },
    threads: { type: 'string', placeholder: 'n', description: 'ONNX Runtime threads (default: all cores)' },
    ...DEFENCE_OPTIONS,
  },
  details: 'Given the training database, only the validation split recorded in the bundle is scored: never images the model trained on.',

  async run({ values: v, positionals }, io) {
    const [modelArg, data] = positionals.length >= 2 ? positionals : [v.model, positionals[0]];
    if (!data) throw new TagbooruError('E_USAGE', `metrics: usage: tagbooru ${this.usage}`);
    const format = choiceOption('format', v.format, ['table', 'json'] as const) ?? 'table';
    const global = numberOption('threshold', v.threshold, 0, 1);
    const bundle = await readBundle(resolveModel(modelArg, io.env));
    const items = (await fs.stat(data)).isDirectory() ? await folderItems(data, io.stdin) : databaseItems(data, bundle.manifest.provenance, v.all ?? false);
    if (items.length === 0) throw new TagbooruError('E_USAGE', `no labelled images in ${data}`);
    const names = bundle.manifest.tags.map((t) => t.name);
    const index = new Map(names.map((n, i) => [n, i]));
    const tagger = await createTagger(bundle, { threads: numberOption('threads', v.threads, 1, 256, true), ...readDefenceOptions(v) });
    const probs: number[] = [], labels: number[] = [];
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
        const row = new Array<number>(names.length).fill(0);
        for (const t of item.tags) {
          const j = index.get(t);
          if (j !== undefined) row[j] = 1;
        }
        labels.push(...row);
      }
      progress.finish();
    } finally {
      await tagger.close();
    }
    const fitted = bundle.manifest.thresholds.tags;
    const thresholds = global ?? names.map((n) => fitted?.[n] ?? bundle.manifest.thresholds.default);
    const m = computeMetrics(probs, labels, names, thresholds);
    io.stdout.write(format === 'json' ? `${JSON.stringify({ model: bundle.dir, data, ...m }, null, 1)}\n` : `${formatMetricsTable(m)}\n`);
    return failed > 0 ? 1 : 0;
  },
});

function databaseItems(file: string, provenance: Readonly<Record<string, unknown>>, all: boolean): Labelled[] {
  const split = provenance.validation as { fraction?: number } | undefined;
  if (!all && split?.fraction === undefined) throw new TagbooruError('E_USAGE', `the bundle records no validation split, so any post may have been trained on; add --all to score every post anyway`);
  const db = TrainingDatabase.open(file, { readonly: true });
  try {
    return [...db.records()].filter((r) => all || isValidation(r.id, split!.fraction!)).map((r) => ({ file: r.path, tags: r.tags }));
  } finally {
    db.close();
  }
}

async function folderItems(dir: string, stdin: NodeJS.ReadableStream): Promise<Labelled[]> {
  const files = await collectAll([dir], { recursive: true, extensions: IMAGE_EXTENSIONS, stdin });
  const out: Labelled[] = [];
  for (const file of files) {
    const text = await readRegularTextIfExists(path.join(path.dirname(file), `${path.parse(file).name}.txt`)).catch(() => null);
    if (text !== null) out.push({ file, tags: parseSidecar(text) });
  }
  return out;
}
