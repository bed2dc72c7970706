import path from 'node:path';
import { TagbooruError } from '../../errors.ts';
import { SYNTHETIC_DEFAULTS } from '../../dataset/synthetic/defaults.ts';
import { CORRUPTIONS, MAX_CHARACTERS, MAX_FACE_SIZE_SPREAD, PRESETS, RENDERINGS, STYLE_NAMES } from '../../dataset/synthetic/settings.ts';
import { SYNTHETIC_TAGS, WIDER_TAGS } from '../../dataset/synthetic/tags.ts';
import { choiceOption, defineCommand, numberOption } from '../command.ts';
import { generatorOverrides } from './_generator-flags.ts';
import { createProgress } from '../progress.ts';

const KINDS = ['synthetic'] as const;

export const makeDatasetCommand = defineCommand({
  name: 'make-dataset',
  usage: `make-dataset synthetic <dir> --count <N> --seed <S> [--size ${SYNTHETIC_DEFAULTS.size}] [--start-id <id>] [--preset <name>] [generator flags]`,
  options: {
    count: { type: 'string', short: 'n', placeholder: 'N', description: 'number of images' },
    seed: { type: 'string', placeholder: '0–4294967295', description: 'random seed: the same seed draws the same images' },
    size: { type: 'string', placeholder: 'px', description: 'image side', default: String(SYNTHETIC_DEFAULTS.size) },
    'start-id': { type: 'string', placeholder: 'id', description: 'id of the first post (default: one past the largest id in the database)' },
    workers: { type: 'string', placeholder: 'n', description: 'render worker threads, worth it beyond 2 cores (default: 0, render on the main thread)' },
    concurrency: { type: 'string', placeholder: 'n', description: 'images in flight at once (default: 4 per worker)' },
    'no-masks': { type: 'boolean', description: 'skip writing mask PNGs (tags still only name visible parts)' },
    preset: { type: 'string', placeholder: 'name', description: `generator settings: ${Object.keys(PRESETS).join(', ')}`, default: 'default' },
    styles: { type: 'string', multiple: true, placeholder: 'a,b', description: `DiceBear styles drawn: ${STYLE_NAMES.join(', ')}` },
    characters: { type: 'string', placeholder: `1-${MAX_CHARACTERS}`, description: 'characters per image, a number or a range (a free layout)' },
    'face-size': { type: 'string', placeholder: '0.02-1', description: 'character side as a fraction of the image side (a free layout)' },
    'face-size-spread': { type: 'string', placeholder: `1-${MAX_FACE_SIZE_SPREAD}`, description: 'characters of one image within this factor of one scale drawn from --face-size (a free layout; default: each size drawn alone)' },
    crop: { type: 'boolean', description: 'let characters stand partly outside the frame (a free layout)' },
    rendering: { type: 'string', multiple: true, placeholder: 'kind=weight', description: `${RENDERINGS.join(', ')} weights, e.g. \`colour=3,greyscale=1\`` },
    colours: { type: 'string', placeholder: 'palette|wide', description: 'hair and skin from fixed shades or from wide colour bands' },
    ambiguous: { type: 'string', placeholder: 'avoid|unknown', description: 'wide colours near a band edge: draw again, or record their tags as unknown' },
    corruptions: { type: 'string', multiple: true, placeholder: 'kind=p', description: `${CORRUPTIONS.join(', ')} probabilities, e.g. \`jpeg=0.3,blur=0.1\`` },
  },
  details: [
    'Writes <dir>/dataset.sqlite (DeepDanbooru\'s posts table, ids from --start-id), <dir>/images/<md5[0:2]>/<md5>.png,',
    '<dir>/masks/<md5[0:2]>/<md5>/<tag>.png, tags.txt, categories.json and provenance.json. Appending to an existing',
    'dataset is allowed when the ids are free. Held-out splits: use another --seed (and ids that do not overlap).',
    'Each image\'s generator choices and unknown tags go to the tagbooru_choices table; LICENSES credits every style drawn.',
    'The default preset draws what generator version 2 drew; generator flags override the preset\'s settings.',
    '',
    `Tags (${SYNTHETIC_TAGS.length}): ${SYNTHETIC_TAGS.map((t) => t.tag).join(' ')}`,
    `Wider settings add: ${WIDER_TAGS.map((t) => t.tag).join(' ')}`,
    'Artwork: lorelei (CC0 1.0) and adventurer (CC BY 4.0) by Lisa Wischofsky, micah (CC BY 4.0) by Micah Lanier, via DiceBear.',
  ].join('\n'),

  async run({ values: v, positionals }, io) {
    const [kind, dir, ...extra] = positionals;
    if (!kind || !(KINDS as readonly string[]).includes(kind)) {
      throw new TagbooruError('E_USAGE', `make-dataset: give a dataset kind (${KINDS.join(', ')}) and a folder, e.g. \`make-dataset synthetic data/train --count 1000 --seed 1\``);
    }
    if (!dir || extra.length > 0) throw new TagbooruError('E_USAGE', 'make-dataset: give exactly one output folder');
    const count = numberOption('count', v.count, 1, 100_000_000, true);
    if (count === undefined) throw new TagbooruError('E_USAGE', 'make-dataset: --count is required');
    const seed = numberOption('seed', v.seed, 0, 2 ** 32 - 1, true);
    if (seed === undefined) throw new TagbooruError('E_USAGE', 'make-dataset: --seed is required (held-out sets need a seed of their own)');
    const target = path.resolve(io.cwd, dir);
    // DiceBear and sharp load only when this command runs
    const { makeSyntheticDataset } = await import('../../dataset/synthetic/dataset.ts');
    const progress = createProgress(io, count);
    const summary = await makeSyntheticDataset(target, {
      count,
      seed,
      size: numberOption('size', v.size, 32, 2048, true),
      startId: numberOption('start-id', v['start-id'], 1, Number.MAX_SAFE_INTEGER, true),
      workers: numberOption('workers', v.workers, 0, 64, true),
      concurrency: numberOption('concurrency', v.concurrency, 1, 256, true),
      masks: !v['no-masks'],
      preset: choiceOption('preset', v.preset, Object.keys(PRESETS)),
      settings: generatorOverrides(v),
      onProgress: (done) => progress.update(done),
    });
    progress.finish();
    const rate = summary.count / summary.seconds;
    io.stdout.write(`wrote ${summary.count} images (ids ${summary.firstId}–${summary.lastId}) and ${summary.masks} masks to ${summary.database} in ${summary.seconds.toFixed(1)} s (${rate.toFixed(1)} images/s)\n`);
    const rows = Object.entries(summary.tagCounts).map(([tag, n]) => `  ${tag.padEnd(20)} ${String(n).padStart(8)}  ${((100 * n) / summary.count).toFixed(1).padStart(5)}%`);
    io.stdout.write(`images per tag:\n${rows.join('\n')}\n`);
    return 0;
  },
});
