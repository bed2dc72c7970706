/**
 * `train-project` across runs, with the real CLI: a fallback past a damaged checkpoint continues bit for bit,
 * `--restart` archives and its new saves are resumed, and unusable checkpoints stop the run instead of
 * silently starting again from step 0.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { listCheckpoints } from '../../src/train/checkpoints.ts';
import { projectWeights as weights, tinyProjects, trainProject as train, type TinyProjects } from '../helpers/tiny-project.ts';

let tiny: TinyProjects;
/** Every augmentation on: every op and its label rules (greyscale's unknown colour tags, the crop's unknown shapes) replay too. */
const project = (name: string) => tiny.project(name, { augmentation: { preset: 'all' } });

beforeAll(async () => {
  tiny = await tinyProjects('tagbooru-train-resume-');
});

afterAll(async () => {
  await tiny.remove();
});

test('train-project falls back past a truncated checkpoint, continues bit for bit, and --restart archives instead of losing the next run', async () => {
  const whole = await project('whole');
  // decoding every time: the bit-for-bit comparison below also holds the decoded images kept across epochs to it
  expect((await train(whole, '--cache-mb', '0')).code).toBe(0);

  const cut = await project('cut');
  expect((await train(cut, '--max-steps', '6')).code).toBe(0);
  const [newest, older] = await listCheckpoints(path.join(cut, 'checkpoints'));
  expect([newest?.step, older?.step]).toEqual([6, 4]);
  const state = path.join(newest!.dir, 'state.safetensors');
  await fs.truncate(state, (await fs.stat(state)).size - 100); // as a full disk or a power cut leaves it
  const resumed = await train(cut);
  expect(resumed.code).toBe(0);
  expect(resumed.out).toContain(`checkpoint rejected: ${state}: truncated`);
  expect(resumed.out).toContain(`resuming from checkpoints/${older!.name} (step 4, epoch 1, image 16 of the epoch)`);
  // the float check: steps 5 and 6 replayed from step 4 give exactly the uninterrupted run's weights
  expect((await weights(cut)).equals(await weights(whole))).toBe(true);

  const restarted = await train(cut, '--restart', '--max-steps', '2');
  expect(restarted.out).not.toContain('resuming');
  const archive = /moved the previous run's checkpoints to (\S+)/.exec(restarted.out)?.[1];
  expect((await fs.readdir(archive!)).filter((n) => n.startsWith('step-'))).toHaveLength(3);
  expect((await listCheckpoints(path.join(cut, 'checkpoints'))).map((c) => c.name)).toEqual(['step-000000002-save-000001']);
  const again = await train(cut, '--max-steps', '1');
  expect(again.out).toContain('resuming from checkpoints/step-000000002-save-000001 (step 2,');
  expect((await listCheckpoints(path.join(cut, 'checkpoints')))[0]?.step).toBe(2); // one step, no save yet, nothing rotated away
}, 120_000);

test('train-project --cache-mb out of range is a usage error naming the flag and its range', async () => {
  const refused = await train(await project('cache'), '--cache-mb', '1e9');
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain('Expected an integer between 0 and 1048576 for --cache-mb but received "1e9"');
});

test('train-project with checkpoints none of which loads exits 1 naming the folder and --restart, and trains nothing', async () => {
  const dir = await project('damaged');
  expect((await train(dir, '--max-steps', '4')).code).toBe(0);
  const saved = await listCheckpoints(path.join(dir, 'checkpoints'));
  for (const c of saved) await fs.writeFile(path.join(c.dir, 'checkpoint.json'), '');
  const refused = await train(dir);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain(`none of the 2 checkpoints in ${path.join(dir, 'checkpoints')} can be resumed`);
  expect(refused.stderr).toContain(`${path.join(saved[0]!.dir, 'checkpoint.json')}: not valid JSON`);
  expect(refused.stderr).toContain('--restart');
  expect(refused.out).not.toMatch(/Epoch\[|exported/);
  expect(await listCheckpoints(path.join(dir, 'checkpoints'))).toEqual(saved);
}, 60_000);
