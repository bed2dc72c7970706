/** DeepDanbooru's project commands: create-project, train-project, evaluate-project. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagbooruError } from '../../errors.ts';
import { writeAtomic } from '../../atomic-files.ts';
import { DEFAULT_PROJECT, readProject } from '../../train/project.ts';
import { trainProject } from '../../train/project-training.ts';
import { defineCommand, numberOption, parse } from '../command.ts';
import { evaluateCommand } from './evaluate.ts';

export const createProjectCommand = defineCommand({
  name: 'create-project',
  usage: 'create-project <dir>',
  options: {},
  async run({ positionals: [dir] }, io) {
    if (!dir) throw new TagbooruError('E_USAGE', 'give the project folder');
    const file = path.join(dir, 'project.json');
    if (await fs.stat(file).catch(() => null)) throw new TagbooruError('E_USAGE', `${file} exists already`);
    await fs.mkdir(dir, { recursive: true });
    await writeAtomic(file, `${JSON.stringify(DEFAULT_PROJECT, null, 1)}\n`);
    io.stdout.write(`wrote ${file}. Next: put tags.txt beside it (tagbooru download-tags, or make-training-database --derive-tags) and set "database_path".\n`);
    return 0;
  },
});

export const trainProjectCommand = defineCommand({
  name: 'train-project',
  usage: 'train-project <dir> [--source-model <bundle>]',
  options: {
    'source-model': { type: 'string', placeholder: 'bundle', description: 'start from a bundle\'s weights (a new tag list gets a new head)' },
    restart: { type: 'boolean', description: 'start over from step 0; existing checkpoints move to checkpoints/archive-<time>-…' },
    'max-steps': { type: 'string', placeholder: 'n', description: 'stop after n steps (resume later)' },
    threads: { type: 'string', placeholder: 'n', description: 'ONNX Runtime threads (default: all cores)' },
  },
  async run({ values: v, positionals: [dir] }, io) {
    if (!dir) throw new TagbooruError('E_USAGE', 'give the project folder');
    const result = await trainProject({
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
  options: {
    threshold: { type: 'string', placeholder: '0–1', description: 'lowest score printed', default: '0.5' },
  },
  async run({ values: v, positionals: [dir, target] }, io) {
    if (!dir || !target) throw new TagbooruError('E_USAGE', 'evaluate-project: give the project folder and an image or folder');
    const { config } = await readProject(dir);
    const bundle = path.join(dir, `model-${config.model}`);
    if (!(await fs.stat(path.join(bundle, 'tagger.json')).catch(() => null))) throw new TagbooruError('E_USAGE', `${dir} has no trained model yet (${bundle}); run train-project first`);
    return evaluateCommand.run(parse(evaluateCommand, [target, '--model-path', bundle, '--threshold', v.threshold ?? '0.5', '--allow-folder']), io);
  },
});
