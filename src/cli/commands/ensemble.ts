/** `tagbooru ensemble` and `tagbooru tta`: bundles built from bundles (src/compose). */
import { TagbooruError } from '../../errors.ts';
import { COMBINE_MODES } from '../../compose/combine.ts';
import { readSource, writeEnsemble, writeTta } from '../../compose/bundles.ts';
import { TTA_HELP, parseTta } from '../../compose/tta.ts';
import { parseNumber } from '../../option-values.ts';
import { modelInputs } from '../../infer/model-io.ts';
import type { Bundle } from '../../infer/bundle.ts';
import { CALIBRATE_DEFAULTS } from '../../train/calibrate.ts';
import { choiceOption, defineCommand, listOption, numberOption } from '../command.ts';
import { fitTiles } from '../tile-fit.ts';
import { resolveModel } from '../model-option.ts';

const TTA_DESCRIPTION = `test-time augmentation: ${TTA_HELP.views}`;

function summary(b: Bundle): string {
  const m = b.manifest;
  const inputs = modelInputs(m).map((i) => `${i.name} ${i.preprocess.layout} ${i.preprocess.width}×${i.preprocess.height}`).join(', ');
  const members = m.ensemble ? `${m.ensemble.members.length} members combined by ${m.ensemble.combine}, ` : '';
  const views = m.tta ? `${m.tta.views} views (${m.tta.combine}), ` : '';
  return `wrote ${b.dir}: ${members}${views}${m.tags.length} tags, inputs ${inputs}\n`;
}

export const ensembleCommand = defineCommand({
  name: 'ensemble',
  usage: 'ensemble <member bundles…> --out <dir> [--combine logit-mean|prob-mean|weighted|random] [--weights 0.5,0.3,0.2]',
  options: {
    out: { type: 'string', short: 'o', placeholder: 'dir', description: 'bundle folder to write' },
    combine: { type: 'string', placeholder: COMBINE_MODES.join('|'), description: 'how the members\' scores become one', default: 'logit-mean' },
    weights: { type: 'string', placeholder: 'w1,w2,…', description: 'one weight ≥ 0 per member, normalised (required by weighted)' },
    name: { type: 'string', placeholder: 'text', description: 'the bundle\'s name (default: ensemble-<member names>)' },
    tta: { type: 'string', placeholder: TTA_HELP.placeholder, description: TTA_DESCRIPTION },
  },
  details: [
    'Every member runs in one graph and one ONNX Runtime session; each reads the image exactly as it does alone (the',
    'graph takes one input per distinct preprocessing). Tags are the union of the members\'; a tag only some members',
    'know is combined over those. logit-mean: sigmoid of the mean logit; prob-mean: mean probability; weighted: mean',
    'probability with --weights; random: one member drawn per image (weights are the draw\'s odds), costing all of',
    'them. Thresholds are the means of the members\' own. See docs/ensembles.md.',
  ].join('\n'),

  async run({ values: v, positionals }, io) {
    if (positionals.length < 2) throw new TagbooruError('E_USAGE', `Expected at least 2 member bundles but received ${positionals.length}`);
    if (!v.out) throw new TagbooruError('E_USAGE', '--out is required');
    const combine = choiceOption('combine', v.combine, COMBINE_MODES) ?? 'logit-mean';
    const weights = listOption(v.weights === undefined ? undefined : [v.weights])?.map((w) => parseNumber('--weights', w, 0, Number.MAX_VALUE));
    if (v.tta !== undefined && combine === 'random') throw new TagbooruError('E_USAGE', '--tta with --combine random would augment after the draw: augment the members first (tagbooru tta) and ensemble those');
    const tta = v.tta === undefined ? undefined : { ...parseTta('--tta', v.tta), combine: combine === 'logit-mean' ? combine : 'prob-mean' as const };
    const dirs = positionals.map((p) => resolveModel(p, io.env));
    io.stdout.write(summary(await writeEnsemble(dirs, v.out, { combine, weights, name: v.name, tta })));
    return 0;
  },
});

export const ttaCommand = defineCommand({
  name: 'tta',
  usage: 'tta <bundle> --out <dir> --tta flip[,scales=0.9:1.1][,tiles=3] [--combine logit-mean|prob-mean] [--fit <training.sqlite | folder>]',
  options: {
    out: { type: 'string', short: 'o', placeholder: 'dir', description: 'bundle folder to write' },
    tta: { type: 'string', placeholder: TTA_HELP.placeholder, description: TTA_DESCRIPTION },
    combine: { type: 'string', placeholder: 'logit-mean|prob-mean', description: 'how the views\' scores become one', default: 'logit-mean' },
    fit: { type: 'string', placeholder: 'training.sqlite|folder', description: 'with tiles: fit how each tag weighs the whole image against its tiles, and its threshold, on this database\'s validation split or on every captioned image of this folder' },
    'validation-fraction': { type: 'string', placeholder: '(0–1]', description: 'with --fit: the split fitted on, chosen by post id as train-project chooses it (default: the fraction the bundle records, else 0.05)' },
    'min-positives': { type: 'string', placeholder: 'n', description: `with --fit: positives (and negatives) a tag needs in the split to be fitted (default ${CALIBRATE_DEFAULTS.minPositives})` },
    'batch-size': { type: 'string', placeholder: 'n', description: 'with --fit: images per inference batch (default 16)' },
  },
  details: 'The views (the image, its mirror image, rescaled copies, tiles) run as one batch in the same session. Tiles find what is small in the frame; --fit learns, per tag, how far a tile\'s score is worth taking against the whole image\'s (without it the higher score wins, which finds small parts and invents parts in tiles of large ones). See docs/ensembles.md.',

  async run({ values: v, positionals }, io) {
    if (positionals.length !== 1) throw new TagbooruError('E_USAGE', `Expected one bundle but received ${positionals.length}`);
    if (!v.out) throw new TagbooruError('E_USAGE', '--out is required');
    if (v.tta === undefined) throw new TagbooruError('E_USAGE', `--tta is required (${TTA_HELP.views})`);
    const combine = choiceOption('combine', v.combine, ['logit-mean', 'prob-mean'] as const) ?? 'logit-mean';
    const tta = { ...parseTta('--tta', v.tta), combine };
    const source = await readSource(resolveModel(positionals[0], io.env));
    if (v.fit === undefined) {
      for (const flag of ['validation-fraction', 'min-positives', 'batch-size'] as const) if (v[flag] !== undefined) throw new TagbooruError('E_USAGE', `--${flag} goes with --fit`);
      io.stdout.write(summary(await writeTta(source, v.out, tta)));
      return 0;
    }
    const { fit, thresholds } = await fitTiles(source, tta, {
      data: v.fit,
      fraction: v['validation-fraction'],
      minPositives: numberOption('min-positives', v['min-positives'], 1, 1e9, true) ?? CALIBRATE_DEFAULTS.minPositives,
      batchSize: numberOption('batch-size', v['batch-size'], 1, 4096, true) ?? 16,
    }, io);
    io.stdout.write(summary(await writeTta(source, v.out, { ...tta, tiles: { ...tta.tiles!, fit } }, thresholds)));
    return 0;
  },
});
