/**
 * A train-project folder over the shapes database (shapes-database.ts): 24 images of 16 px, `test_tiny`, batch
 * 4, 2 epochs (6 steps an epoch, 12 in all), a checkpoint every 2 steps; and `train-project` run through the
 * real CLI on one thread. `settings` are merged over those defaults (augmentation, adversarial, …).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cli } from './cli.ts';
import { shapesDatabase } from './shapes-database.ts';

export const TINY_SIZE = 16;

export interface TinyProjects {
  readonly root: string;
  project(name: string, settings?: object): Promise<string>;
  remove(): Promise<void>;
}

export async function tinyProjects(prefix: string): Promise<TinyProjects> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  await shapesDatabase(root, TINY_SIZE, 24);
  return {
    root,
    async project(name, settings = {}) {
      const dir = path.join(root, name);
      await fs.mkdir(dir);
      await fs.copyFile(path.join(root, 'tags.txt'), path.join(dir, 'tags.txt'));
      await fs.writeFile(path.join(dir, 'project.json'), JSON.stringify({
        image_width: TINY_SIZE, image_height: TINY_SIZE, database_path: path.join(root, 'training.sqlite'), minimum_tag_count: 1, model: 'test_tiny',
        minibatch_size: 4, epoch_count: 2, checkpoint_frequency_mb: 2, console_logging_frequency_mb: 100, validation_fraction: 0, seed: 3,
        rotation_range: false, scale_range: false, shift_range: false, ...settings,
      }));
      return dir;
    },
    remove: () => fs.rm(root, { recursive: true, force: true }),
  };
}

export async function trainProject(dir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string; out: string }> {
  const run = await cli(['train-project', dir, '--threads', '1', ...args]);
  return { ...run, out: run.stdout + run.stderr };
}

export const projectWeights = (dir: string): Promise<Buffer> => fs.readFile(path.join(dir, 'model-test_tiny', 'weights.safetensors'));
