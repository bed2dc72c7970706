import fs from 'node:fs/promises';
import { isValidation } from '../../data/split.ts';
import { TagbooruError } from '../../errors.ts';
import { readBundle, type Bundle, type Thresholds } from '../../infer/bundle.ts';
import { computeCalibrationMetrics, formatCalibrationLine } from '../../train/calibration-metrics.ts';
import { computeMetrics, formatMetricsTable } from '../../train/metrics.ts';
import { writeReliabilityPlot } from '../../train/reliability-plot.ts';
import { choiceOption, defineCommand, numberOption } from '../command.ts';
import { databaseItems, folderItems, scoreLabelled } from '../labelled-scores.ts';
import { resolveModel } from '../model-option.ts';

export const metricsCommand = defineCommand({
  name: 'metrics',
  usage: 'metrics [<bundle>] <training.sqlite | folder with .txt sidecars> [--format table|json] [--plot reliability.png]',
  options: {
    model: { type: 'string', short: 'm', placeholder: 'bundle', description: 'model bundle (default: the bundled model)' },
    format: { type: 'string', short: 'f', placeholder: 'table|json', description: 'output format', default: 'table' },
    threshold: { type: 'string', placeholder: '0–1', description: 'one threshold for every tag (default: the bundle\'s fitted per-tag thresholds, else 0.5)' },
    all: { type: 'boolean', description: 'score every post of a database, not just the validation split the bundle records' },
    'batch-size': { type: 'string', placeholder: 'n', description: 'images per inference batch', default: '16' },
    plot: { type: 'string', placeholder: 'file.png', description: 'write a reliability diagram (observed frequency per score bin, all pairs) as PNG' },
    uncalibrated: { type: 'boolean', description: 'score without the bundle\'s calibration (and with its thresholds from before it), for a before/after comparison' },
  },
  details: 'Given the training database, only the validation split recorded in the bundle is scored: never images the model trained on. ' +
    'Calibration (ECE over 15 equal-width bins, macro over tags and micro over all image–tag pairs, and the Brier score) is defined in docs/calibration.md.',

  async run({ values: v, positionals }, io) {
    const [modelArg, data] = positionals.length >= 2 ? positionals : [v.model, positionals[0]];
    if (!data) throw new TagbooruError('E_USAGE', `metrics: usage: tagbooru ${this.usage}`);
    const format = choiceOption('format', v.format, ['table', 'json'] as const) ?? 'table';
    const global = numberOption('threshold', v.threshold, 0, 1);
    const batchSize = numberOption('batch-size', v['batch-size'], 1, 4096, true) ?? 16;
    const read = await readBundle(resolveModel(modelArg, io.env));
    const bundle = v.uncalibrated ? withoutCalibration(read) : read;
    const items = (await fs.stat(data)).isDirectory() ? await folderItems(data, io.stdin) : databaseItems(data, validationFilter(bundle.manifest.provenance, v.all ?? false));
    if (items.length === 0) throw new TagbooruError('E_USAGE', `no labelled images in ${data}`);
    const names = bundle.manifest.tags.map((t) => t.name);
    const scored = await scoreLabelled(bundle, items, io, batchSize);
    const fitted = bundle.manifest.thresholds.tags;
    const thresholds = global ?? names.map((n) => fitted?.[n] ?? bundle.manifest.thresholds.default);
    const m = computeMetrics(scored.probs, scored.labels, names, thresholds);
    const calibration = computeCalibrationMetrics(scored.probs, scored.labels, names.length, scored.mask ?? undefined);
    if (v.plot) await writeReliabilityPlot(v.plot, calibration.bins);
    io.stdout.write(format === 'json'
      ? `${JSON.stringify({ model: bundle.dir, data, ...m, calibration: { ...calibration, perTag: calibration.perTag.map((t, j) => ({ tag: names[j], ...t })) } }, null, 1)}\n`
      : `${formatMetricsTable(m)}\n${formatCalibrationLine(calibration)}\n`);
    return scored.failed > 0 ? 1 : 0;
  },
});

/** The bundle as it scored before `calibrate`: no calibration, and the thresholds it had then. */
function withoutCalibration(bundle: Bundle): Bundle {
  const { calibration, ...manifest } = bundle.manifest;
  if (!calibration) return bundle;
  const before = (calibration.provenance.thresholds ?? manifest.thresholds) as Thresholds;
  return { ...bundle, manifest: { ...manifest, thresholds: before } };
}

function validationFilter(provenance: Readonly<Record<string, unknown>>, all: boolean): (id: number) => boolean {
  const split = provenance.validation as { fraction?: number } | undefined;
  if (!all && split?.fraction === undefined) throw new TagbooruError('E_USAGE', `the bundle records no validation split, so any post may have been trained on; add --all to score every post anyway`);
  return (id) => all || isValidation(id, split!.fraction!);
}
