import { isValidation } from '../../data/split.ts';
import { TagbooruError } from '../../errors.ts';
import { readBundle, type Bundle, type Thresholds } from '../../infer/bundle.ts';
import { computeCalibrationMetrics, formatCalibrationLine } from '../../train/calibration-metrics.ts';
import { computeMetrics, fitThresholds, formatMetricsTable, type Metrics } from '../../train/metrics.ts';
import { writeReliabilityPlot } from '../../train/reliability-plot.ts';
import { SLICE_NOTE, formatSliceTable, sliceMetrics } from '../../train/slice-metrics.ts';
import { choiceOption, defineCommand, listOption, numberOption } from '../command.ts';
import { DEFENCE_OPTIONS, readDefenceOptions } from '../defence-option.ts';
import { labelledItems, scoreLabelled, type Labelled } from '../labelled-scores.ts';
import { resolveModel } from '../model-option.ts';

export const metricsCommand = defineCommand({
  name: 'metrics',
  usage: 'metrics [<bundle>] <training.sqlite | folder with .txt sidecars> [--by style,rendering,…] [--format table|json] [--plot reliability.png]',
  options: {
    model: { type: 'string', short: 'm', placeholder: 'bundle', description: 'model bundle (default: the bundled model)' },
    format: { type: 'string', short: 'f', placeholder: 'table|json', description: 'output format', default: 'table' },
    threshold: { type: 'string', placeholder: '0–1', description: 'one threshold for every tag (default: the bundle\'s fitted per-tag thresholds, else 0.5)' },
    all: { type: 'boolean', description: 'score every post of a database, not just the validation split the bundle records' },
    'batch-size': { type: 'string', placeholder: 'n', description: 'images per inference batch', default: '16' },
    by: { type: 'string', multiple: true, placeholder: 'key', description: 'also score each slice of the generator\'s recorded choices: style, rendering, characters, face-size, corruption, … (repeatable; one table per key)' },
    plot: { type: 'string', placeholder: 'file.png', description: 'write a reliability diagram (observed frequency per score bin, all pairs) as PNG' },
    ceiling: { type: 'boolean', description: 'also the F1 with each tag\'s threshold fitted on these very images: a ceiling, not a score, that tells what better thresholds could buy from what only a better ranking can' },
    uncalibrated: { type: 'boolean', description: 'score without the bundle\'s calibration (and with its thresholds from before it), for a before/after comparison' },
    threads: { type: 'string', placeholder: 'n', description: 'ONNX Runtime threads (default: all cores)' },
    ...DEFENCE_OPTIONS,
  },
  details: 'Given the training database, only the validation split recorded in the bundle is scored: never images the model trained on. ' +
    'Tags the database records as unknown for an image (make-dataset synthetic\'s unknown_tags) count neither as positive nor as negative. ' +
    `--by: ${SLICE_NOTE}; face-size buckets the largest character's side in quarters of the image side. ` +
    'Calibration (ECE over 15 equal-width bins, macro over tags and micro over all image–tag pairs, and the Brier score) is defined in docs/calibration.md.',

  async run({ values: v, positionals }, io) {
    const [modelArg, data] = positionals.length >= 2 ? positionals : [v.model, positionals[0]];
    if (!data) throw new TagbooruError('E_USAGE', `metrics: usage: tagbooru ${this.usage}`);
    const format = choiceOption('format', v.format, ['table', 'json'] as const) ?? 'table';
    const global = numberOption('threshold', v.threshold, 0, 1);
    const batchSize = numberOption('batch-size', v['batch-size'], 1, 4096, true) ?? 16;
    const read = await readBundle(resolveModel(modelArg, io.env));
    const bundle = v.uncalibrated ? withoutCalibration(read) : read;
    const { items } = await labelledItems(data, validationFilter(bundle.manifest.provenance, v.all ?? false), io.stdin);
    if (items.length === 0) throw new TagbooruError('E_USAGE', `no labelled images in ${data}`);
    const by = listOption(v.by) ?? [];
    checkSliceKeys(by, items, data);
    const names = bundle.manifest.tags.map((t) => t.name);
    const scored = await scoreLabelled(bundle, items, io, batchSize, { threads: numberOption('threads', v.threads, 1, 256, true), ...readDefenceOptions(v) });
    const fitted = bundle.manifest.thresholds.tags;
    const thresholds = global ?? names.map((n) => fitted?.[n] ?? bundle.manifest.thresholds.default);
    const known = scored.mask ?? undefined;
    const m = computeMetrics(scored.probs, scored.labels, names, thresholds, known);
    const ceiling = v.ceiling ? ceilingOf(scored.probs, scored.labels, names, thresholds, known) : undefined;
    const set = { probs: scored.probs, labels: scored.labels, known: scored.mask, tagNames: names, thresholds };
    const slices = by.map((key) => sliceMetrics(set, key, scored.scored.map((it) => it.slices?.get(key))));
    const calibration = computeCalibrationMetrics(scored.probs, scored.labels, names.length, known);
    if (v.plot) await writeReliabilityPlot(v.plot, calibration.bins);
    if (format === 'json') {
      io.stdout.write(`${JSON.stringify({
        model: bundle.dir, data, ...m,
        ...(ceiling && { ceiling: { microF1: ceiling.microF1, macroF1: ceiling.macroF1, thresholds: Object.fromEntries(ceiling.perTag.map((t) => [t.tag, t.threshold])) } }),
        calibration: { ...calibration, perTag: calibration.perTag.map((t, j) => ({ tag: names[j], ...t })) },
        ...(by.length > 0 && { slices: Object.fromEntries(slices.map((t) => [t.key, t.rows])), slicesNote: SLICE_NOTE }),
      }, null, 1)}\n`);
    } else {
      const head = [formatMetricsTable(m), formatCalibrationLine(calibration), ...(ceiling ? [formatCeilingLine(ceiling)] : [])].join('\n');
      io.stdout.write(`${[head, ...slices.map(formatSliceTable), ...(by.length > 0 ? [SLICE_NOTE] : [])].join('\n\n')}\n`);
    }
    return scored.failed > 0 ? 1 : 0;
  },
});

/**
 * The figures at each tag's F1-best threshold on the scored images themselves. Fitted on the test images, they
 * are no score, but the gap to them is what thresholds alone could close; the rest needs a better ranking (AP).
 * A tag without known positives keeps the threshold it was scored at.
 */
function ceilingOf(probs: Float32Array, labels: Float32Array, names: readonly string[], used: number | readonly number[], known: Float32Array | undefined): Metrics {
  return computeMetrics(probs, labels, names, fitThresholds(probs, labels, names.length, used, known), known);
}

function formatCeilingLine(c: Metrics): string {
  return `ceiling: thresholds fitted on these images   micro F1 ${(c.microF1 * 100).toFixed(1)}%   macro F1 ${(c.macroF1 * 100).toFixed(1)}%   (not a score: what thresholds alone could reach)`;
}

/** Before any image is scored: every `--by` key must be a slice some item's recorded choices give. */
function checkSliceKeys(by: readonly string[], items: readonly Labelled[], data: string): void {
  if (by.length === 0) return;
  const present = new Set(items.flatMap((it) => [...(it.slices?.keys() ?? [])]));
  if (present.size === 0) throw new TagbooruError('E_USAGE', `--by needs the generator's recorded choices (the tagbooru_choices table of a make-dataset synthetic database), and ${data} has none`);
  const unknown = by.filter((k) => !present.has(k));
  if (unknown.length > 0) throw new TagbooruError('E_USAGE', `--by ${unknown.join(',')}: not a recorded choice in ${data}; expected one of ${[...present].sort().join(', ')}`);
}

/** The bundle as it scored before `calibrate`: no calibration, and the thresholds it had then. */
function withoutCalibration(bundle: Bundle): Bundle {
  const { calibration, ...manifest } = bundle.manifest;
  if (!calibration) return bundle;
  const before = (calibration.provenance.thresholds ?? manifest.thresholds) as Thresholds;
  return { ...bundle, manifest: { ...manifest, thresholds: before } };
}

/** Which posts of a database to score; asked only of a database (a folder has no split), so the refusal waits for one. */
function validationFilter(provenance: Readonly<Record<string, unknown>>, all: boolean): (id: number) => boolean {
  const split = provenance.validation as { fraction?: number } | undefined;
  return (id) => {
    if (all) return true;
    if (split?.fraction === undefined) throw new TagbooruError('E_USAGE', `the bundle records no validation split, so any post may have been trained on; add --all to score every post anyway`);
    return isValidation(id, split.fraction);
  };
}
