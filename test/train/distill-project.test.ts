/**
 * train-project with a "teacher": the student's probabilities on its training images move toward the
 * teacher's (measured against the same student trained on the labels alone), and an interrupted
 * distillation run resumes bit for bit, with mixup too (its blends are unit-tested in mixup.test.ts).
 * project.json's distillation keys are checked in project.test.ts.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTagger } from '../../src/index.ts';
import { trainProject } from '../../src/train/project-training.ts';
import { SHAPE_TAGS, drawSample } from '../helpers/shapes.ts';
import { shapesDatabase } from '../helpers/shapes-database.ts';
import { IMAGES, SIZE, exportTeacher } from './_distillation.ts';

let root: string, db: string, teacher: string, distilled: string;
const lines: string[] = [];
const DISTIL = { teacher: '../teacher', distillation: { alpha: 0.9, temperature: 1.5 } };

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-distill-'));
  db = await shapesDatabase(root, SIZE, IMAGES);
  teacher = await exportTeacher(path.join(root, 'teacher'), SHAPE_TAGS, SIZE, 8);
  distilled = await project('distilled', DISTIL);
  await train(distilled);
}, 60_000);
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** 32 images, 4 steps an epoch, a checkpoint every 2 steps; flips on, so the teacher must follow each draw. */
async function project(name: string, extra: Record<string, unknown>): Promise<string> {
  const dir = path.join(root, name);
  await fs.mkdir(dir);
  await fs.writeFile(path.join(dir, 'tags.txt'), `${SHAPE_TAGS.join('\n')}\n`);
  await fs.writeFile(path.join(dir, 'project.json'), JSON.stringify({
    image_width: SIZE, image_height: SIZE, database_path: path.relative(dir, db), minimum_tag_count: 0, model: 'test_tiny', minibatch_size: 8,
    epoch_count: 4, checkpoint_frequency_mb: 2, console_logging_frequency_mb: 100, learning_rate: 0.02, rotation_range: false, scale_range: false,
    shift_range: false, flip_horizontal: true, validation_fraction: 0, seed: 3, ...extra,
  }));
  return dir;
}

const train = (dir: string, maxSteps?: number) => trainProject({ dir, threads: 1, maxSteps, log: (l) => void lines.push(l) });

/** Probabilities of a bundle on the training images, unaugmented. */
async function predictions(bundle: string): Promise<Float32Array> {
  const x = new Float32Array(IMAGES * SIZE * SIZE * 3);
  for (let i = 0; i < IMAGES; i++) x.set(drawSample(SIZE, i).x, i * SIZE * SIZE * 3);
  const tagger = await createTagger(bundle, { threads: 1 });
  try {
    return await tagger.predict(x, IMAGES);
  } finally {
    await tagger.close();
  }
}

const meanAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;

test('the distilled student\'s probabilities move toward the teacher\'s, and far more than labels alone move them', async () => {
  const alone = await project('alone', {});
  await train(alone);
  expect(lines).toContain('distilling from teacher (../teacher): alpha 0.9, temperature 1.5; it knows 6 of the 6 tags; it takes the training batch as it is');
  const t = await predictions(teacher);
  // the student before its first step: the project's seed, the initial head
  const before = meanAbsDiff(await predictions(await exportTeacher(path.join(root, 'untrained'), SHAPE_TAGS, SIZE, 3, 1)), t);
  const bundle = (dir: string) => path.join(dir, 'model-test_tiny');
  const after = meanAbsDiff(await predictions(bundle(distilled)), t), control = meanAbsDiff(await predictions(bundle(alone)), t);
  console.log(`mean |p_student − p_teacher| on the training images: untrained ${before.toFixed(3)}; after 16 steps distilled ${after.toFixed(3)}, labels alone ${control.toFixed(3)}`);
  // measured: 0.335 untrained, 0.052 distilled, 0.520 labels alone
  expect(after).toBeLessThan(0.35 * before);
  expect(after).toBeLessThan(0.25 * control);
}, 60_000);

test('an interrupted distillation run resumes exactly: the teacher is a function of the batch', async () => {
  const cut = await project('cut', DISTIL);
  expect((await train(cut, 5)).bundle).toBeNull();
  await train(cut); // resumes from step 4 and replays step 5 with the teacher's targets computed again
  expect(lines.some((l) => l.startsWith('resuming from checkpoints/') && l.includes('(step 4,'))).toBe(true);
  const weights = (dir: string) => fs.readFile(path.join(dir, 'model-test_tiny', 'weights.safetensors'));
  expect((await weights(cut)).equals(await weights(distilled))).toBe(true);
}, 60_000);

test('with mixup the teacher labels blended batches: the student learns otherwise, and an interrupted run still resumes exactly', async () => {
  const MIXED = { ...DISTIL, distillation: { ...DISTIL.distillation, mixup: 0.5 } };
  const [whole, cut] = [await project('mixup', MIXED), await project('mixup-cut', MIXED)];
  await train(whole);
  expect(lines).toContain('distilling from teacher (../teacher): alpha 0.9, temperature 1.5, mixup 0.5; it knows 6 of the 6 tags; it takes the training batch as it is');
  expect((await train(cut, 5)).bundle).toBeNull();
  await train(cut); // step 5's blends are drawn again from (seed, epoch, batch start)
  const weights = (dir: string) => fs.readFile(path.join(dir, 'model-test_tiny', 'weights.safetensors'));
  expect((await weights(cut)).equals(await weights(whole))).toBe(true);
  expect((await weights(whole)).equals(await weights(distilled))).toBe(false);
}, 60_000);

test('a "teacher" that is not a bundle is a usage error naming the key', async () => {
  const dir = await project('no-teacher', { teacher: '../missing' });
  await expect(train(dir)).rejects.toThrow(/project\.json: "teacher": .*missing is not a model bundle: cannot read tagger\.json/);
}, 30_000);
