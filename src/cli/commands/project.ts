/** DeepDanbooru's project commands: create-project, train-project, evaluate-project. */
import path from 'node:path';
import { TagbooruError } from '../../errors.ts';
import { DEFAULT_PROJECT } from '../../train/project.ts';
import { FOLDER_PROJECT, PROJECT_DATABASE, createProject, createProjectFromFolder } from '../../train/project-setup.ts';
import { trainProject } from '../../train/project-training.ts';
import { defineCommand, numberOption, parse } from '../command.ts';
import { resolveProjectModel } from '../model-option.ts';
import { evaluateCommand } from './evaluate.ts';
import { importFolder } from './make-training-database.ts';

export const createProjectCommand = defineCommand({
  name: 'create-project',
  usage: 'create-project <dir> [--from-folder <images>]',
  options: {
    'from-folder': { type: 'string', placeholder: 'dir', description: `images with .txt caption files: builds ${PROJECT_DATABASE}, tags.txt, categories.json and a project.json sized to the folder` },
    manifest: { type: 'string', placeholder: 'file', description: 'with --from-folder: a CSV (file,tags) or JSONL ({file, tags}) instead of caption files' },
    'min-tag-frequency': { type: 'string', placeholder: 'n', description: 'with --from-folder: tags on fewer images are left out of tags.txt (default: 1 % of the images, 2–20)' },
    model: { type: 'string', placeholder: 'arch', description: `architecture (default: ${DEFAULT_PROJECT.model}; from a folder ${FOLDER_PROJECT.model})` },
    'image-size': { type: 'string', placeholder: 'px', description: `training image width and height (default: ${DEFAULT_PROJECT.image_width}; from a folder ${FOLDER_PROJECT.image_width})` },
    epochs: { type: 'string', placeholder: 'n', description: `epoch_count (default: ${DEFAULT_PROJECT.epoch_count}; from a folder 10–50, about 6,000 samples)` },
    'minibatch-size': { type: 'string', placeholder: 'n', description: `minibatch_size (default: ${DEFAULT_PROJECT.minibatch_size}; from a folder at most a quarter of its training images)` },
  },
  details: 'Every value is written to project.json, where it can be changed before train-project runs.',
  async run({ values: v, positionals: [dir] }, io) {
    if (!dir) throw new TagbooruError('E_USAGE', 'give the project folder');
    const overrides = {
      model: v.model,
      imageSize: numberOption('image-size', v['image-size'], 8, 4096, true),
      epochs: numberOption('epochs', v.epochs, 1, 100_000, true),
      minibatchSize: numberOption('minibatch-size', v['minibatch-size'], 1, 4096, true),
    };
    const folder = v['from-folder'];
    if (!folder) {
      if (v.manifest || v['min-tag-frequency']) throw new TagbooruError('E_USAGE', '--manifest and --min-tag-frequency go with --from-folder');
      const { file } = await createProject(dir, overrides);
      io.stdout.write(`wrote ${file}. Next: put tags.txt beside it (tagbooru download-tags, or make-training-database --derive-tags) and set "database_path".\n`);
      return 0;
    }
    const made = await createProjectFromFolder(dir, {
      ...overrides,
      minimumTagFrequency: numberOption('min-tag-frequency', v['min-tag-frequency'], 1, Number.MAX_SAFE_INTEGER, true),
      buildDatabase: (output) => importFolder(folder, v.manifest, output, io),
    });
    const c = made.config, d = made.database;
    io.stdout.write([
      `wrote ${path.join(dir, PROJECT_DATABASE)}: ${d.posts} images${d.skipped ? `, ${d.skipped} skipped` : ''}`,
      `wrote tags.txt and categories.json: ${made.tags.general.length} general + ${made.tags.system.length} rating tags on at least ${made.minimumTagFrequency} images`,
      `wrote ${made.file}: ${c.model} at ${c.image_width}×${c.image_height}, ${c.epoch_count} epochs of ${c.minibatch_size}, ${Math.round((c.validation_fraction ?? 0) * 100)} % held out for validation`,
      `Next: tagbooru train-project ${dir}`,
    ].map((l) => `${l}\n`).join(''));
    return d.skipped > 0 ? 1 : 0;
  },
});

export const trainProjectCommand = defineCommand({
  name: 'train-project',
  usage: 'train-project <dir> [--source-model <bundle>]',
  details: [
    'Reads <dir>/project.json, tags.txt, categories.json and the training database project.json names.',
    'Writes <dir>/checkpoints/ (the three newest saves, each weights + optimizer state + a checksummed JSON; --restart',
    'archives the old ones), <dir>/model-<arch>.e<epoch>/ bundles when export_model_per_epoch says so, and the final',
    'bundle <dir>/model-<arch>/ with metrics.json (per-tag thresholds fitted on the validation split).',
  ].join('\n'),
  options: {
    'source-model': { type: 'string', placeholder: 'bundle', description: 'start from a bundle\'s weights (a new tag list gets a new head)' },
    restart: { type: 'boolean', description: 'start over from step 0; existing checkpoints move to checkpoints/archive-<time>-…' },
    'max-steps': { type: 'string', placeholder: 'n', description: 'stop after n steps (resume later)' },
    threads: { type: 'string', placeholder: 'n', description: 'ONNX Runtime threads (default: all cores)' },
    'cache-mb': { type: 'string', placeholder: 'n', description: 'memory for decoded images kept from epoch to epoch (default: an eighth of RAM, at most 2048; 0: decode every time)' },
  },
  async run({ values: v, positionals: [dir] }, io) {
    if (!dir) throw new TagbooruError('E_USAGE', 'give the project folder');
    const cacheMb = numberOption('cache-mb', v['cache-mb'], 0, 1_048_576, true);
    const result = await trainProject({
      ...(cacheMb !== undefined && { decodedCacheBytes: cacheMb * 2 ** 20 }),
      dir, sourceModel: v['source-model'], restart: v.restart,
      maxSteps: numberOption('max-steps', v['max-steps'], 1, Number.MAX_SAFE_INTEGER, true),
      threads: numberOption('threads', v.threads, 1, 256, true),
      log: (line) => io.stdout.write(`${line}\n`),
    });
    return result.position.skipped > 0 ? 1 : 0;
  },
});

export const evaluateProjectCommand = defineCommand({
  name: 'evaluate-project',
  usage: 'evaluate-project <dir> <target> [--threshold 0.5]',
  details: 'Tags with the bundle train-project exported last (<dir>/model-<arch>/) and prints as `evaluate` does; writes nothing.',
  options: {
    threshold: { type: 'string', placeholder: '0–1', description: 'lowest score printed', default: '0.5' },
  },
  async run({ values: v, positionals: [dir, target] }, io) {
    if (!dir || !target) throw new TagbooruError('E_USAGE', 'give the project folder and an image or folder');
    const bundle = await resolveProjectModel(dir);
    return evaluateCommand.run(parse(evaluateCommand, [target, '--model-path', bundle, '--threshold', v.threshold ?? '0.5', '--allow-folder']), io);
  },
});
