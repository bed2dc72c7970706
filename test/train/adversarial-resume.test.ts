/**
 * `train-project` with "adversarial" set, through the real CLI: it trains, says how it attacks, trains
 * something else than the clean project, and a run stopped at step 6 and resumed ends bit for bit where the
 * uninterrupted one does (the attack's random starts are a function of the seed and the step).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { projectWeights as weights, tinyProjects, trainProject as train, type TinyProjects } from '../helpers/tiny-project.ts';

let tiny: TinyProjects;
/** Half of each batch of 4 attacked. */
const project = (name: string, adversarial?: object) => tiny.project(name, { flip_horizontal: true, ...(adversarial && { adversarial }) });

beforeAll(async () => {
  tiny = await tinyProjects('tagbooru-adv-resume-');
});

afterAll(async () => {
  await tiny.remove();
});

test('adversarial train-project resumes bit for bit and trains other weights than the clean project', async () => {
  const settings = { eps: '8/255', ratio: 0.5 };
  const whole = await project('whole', settings);
  const run = await train(whole);
  expect(run.code).toBe(0);
  expect(run.out).toContain('adversarial training: fgsm-rs, ε 0.0314 (8.0/255), α 0.0392 (10.0/255), 2 of 4 samples per batch attacked');
  const manifest = JSON.parse(await fs.readFile(path.join(whole, 'model-test_tiny', 'tagger.json'), 'utf8')) as { provenance: { project: { adversarial: unknown } } };
  expect(manifest.provenance.project.adversarial).toEqual({ method: 'fgsm-rs', eps: 8 / 255, steps: 1, step_size: 10 / 255, ratio: 0.5, goal: 'all-tags' });

  const cut = await project('cut', settings);
  expect((await train(cut, '--max-steps', '6')).code).toBe(0);
  const resumed = await train(cut);
  expect(resumed.out).toContain('resuming from checkpoints/step-000000006');
  expect((await weights(cut)).equals(await weights(whole))).toBe(true);

  const clean = await project('clean');
  expect((await train(clean)).code).toBe(0);
  expect((await weights(clean)).equals(await weights(whole))).toBe(false);
}, 60_000);
