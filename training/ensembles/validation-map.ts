/**
 * mAP of bundles on a training database's validation split, as train-project's validation computes it each
 * epoch (the split by post id, the database's unknown tags masked): the figure a student's training log
 * prints, for bundles that record no split of their own, such as an ensemble of members trained on that
 * database (`tagbooru metrics` scores only a split the bundle records). Students still training can then be
 * compared, epoch by epoch, with their teacher on the same 150 or so images.
 *   node --import tsx training/ensembles/validation-map.ts <database> <bundle>… [--validation-fraction 0.05]
 */
import { parseArgs } from 'node:util';
import { numberOption } from '../../src/cli/command.ts';
import { TagbooruError } from '../../src/errors.ts';
import { createTagger } from '../../src/index.ts';
import { loadSplit } from '../../src/train/dataset.ts';
import { computeMetrics } from '../../src/train/metrics.ts';

const { values: v, positionals } = parseArgs({ args: process.argv.slice(2), options: { 'validation-fraction': { type: 'string' } }, allowPositionals: true, strict: true });
const [database, ...bundles] = positionals;
if (!database || bundles.length === 0) throw new TagbooruError('E_USAGE', 'Usage: node --import tsx training/ensembles/validation-map.ts <database> <bundle>… [--validation-fraction 0.05]');
const validationFraction = numberOption('validation-fraction', v['validation-fraction'], 0, 1) ?? 0.05;

for (const bundle of bundles) {
  const tagger = await createTagger(bundle, { threads: 1 });
  try {
    const names = tagger.tags.map((t) => t.name), n = names.length;
    const { validation } = loadSplit(database, names, { minimumTagCount: 0, validationFraction, settingsFile: 'project.json' });
    const results = await tagger.tag(validation.map((r) => r.path), { scores: true, batchSize: 16 });
    const probs = new Float32Array(validation.length * n), labels = new Float32Array(validation.length * n), known = new Float32Array(validation.length * n).fill(1);
    validation.forEach((r, i) => {
      const scores = results[i]!.scores;
      if (!scores) throw new TagbooruError('E_MODEL', `${bundle} could not read ${r.path}: ${results[i]!.error ?? 'no scores'}`);
      probs.set(scores, i * n);
      for (const j of r.labels) labels[i * n + j] = 1;
      for (const j of r.unknown) known[i * n + j] = 0;
    });
    process.stdout.write(`${bundle}\t${validation.length} images\tmAP ${computeMetrics(probs, labels, names, 0.5, known).mAP.toFixed(4)}\n`);
  } finally {
    await tagger.close();
  }
}
