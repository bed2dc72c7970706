/**
 * `train-project` with "adversarial" set, through the real CLI: it trains, says how it attacks, trains
 * something else than the clean project, and a run stopped at step 6 and resumed ends bit for bit where the
 * uninterrupted one does (the attack's random starts are a function of the seed and the step).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { shapesDatabase } from '../helpers/shapes-database.ts';

const SIZE = 16;
let root: string;

/** 24 images: 6 steps an epoch, 12 in all, a checkpoint every 2; half of each batch of 4 attacked. */
async function project(name: string, adversarial?: object): Promise<string> {
  const dir = path.join(root, name);
  await fs.mkdir(dir);
  await fs.copyFile(path.join(root, 'tags.txt'), path.join(dir, 'tags.txt'));
  await fs.writeFile(path.join(dir, 'project.json'), JSON.stringify({
    image_width: SIZE, image_height: SIZE, database_path: path.join(root, 'training.sqlite'), minimum_tag_count: 1, model: 'test_tiny',
    minibatch_size: 4, epoch_count: 2, checkpoint_frequency_mb: 2, console_logging_frequency_mb: 100, validation_fraction: 0, seed: 3,
    rotation_range: false, scale_range: false, shift_range: false, flip_horizontal: true, ...(adversarial && { adversarial }),
  }));
  return dir;
}

const train = async (dir: string, ...args: string[]) => {
  const run = await cli(['train-project', dir, '--threads', '1', ...args]);
  return { ...run, out: run.stdout + run.stderr };
};
const weights = (dir: string) => fs.readFile(path.join(dir, 'model-test_tiny', 'weights.safetensors'));

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-adv-resume-'));
  await shapesDatabase(root, SIZE, 24);
});

afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

test('adversarial train-project resumes bit for bit and trains other weights than the clean project', async () => {
  const settings = { eps: '8/255', ratio: 0.5 };
  const whole = await project('whole', settings);
  const run = await train(whole);
  expect(run.code).toBe(0);
  expect(run.out).toContain('adversarial training: fgsm-rs, ε 0.0314 (8.0/255), α 0.0392 (10.0/255), 2 of 4 samples per batch attacked');
  const manifest = JSON.parse(await fs.readFile(path.join(whole, 'model-test_tiny', 'tagger.json'), 'utf8')) as { provenance: { project: { adversarial: unknown } } };
  expect(manifest.provenance.project.adversarial).toEqual({ method: 'fgsm-rs', eps: 8 / 255, steps: 1, step_size: 10 / 255, ratio: 0.5 });

  const cut = await project('cut', settings);
  expect((await train(cut, '--max-steps', '6')).code).toBe(0);
  const resumed = await train(cut);
  expect(resumed.out).toContain('resuming from checkpoints/step-000000006');
  expect((await weights(cut)).equals(await weights(whole))).toBe(true);

  const clean = await project('clean');
  expect((await train(clean)).code).toBe(0);
  expect((await weights(clean)).equals(await weights(whole))).toBe(false);
}, 60_000);
