/**
 * The teacher's soft targets (src/train/teacher.ts): its bundle run by a real ORT session, tags aligned by
 * name, and a teacher of another input size fed the student's image re-preprocessed at its size.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTagger } from '../../src/index.ts';
import { presetSpec } from '../../src/infer/bundle.ts';
import { openTeacher } from '../../src/train/teacher.ts';
import { SHAPE_TAGS, drawSample } from '../helpers/shapes.ts';
import { SIZE, exportTeacher } from './_distillation.ts';

const student = { tags: [...SHAPE_TAGS], spec: presetSpec('deepdanbooru', { width: SIZE, height: SIZE }) };
// the teacher lists the student's tags in another order, lacks two_objects and has one of its own
const TEACHER_TAGS = ['extra', 'blue', 'green', 'red', 'square', 'circle'];
let root: string;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-teacher-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const logit = (p: number) => Math.log(p) - Math.log1p(-p);

describe('teacher', () => {
  test('gives its logits in the student\'s tag order, mask 0 for a tag it lacks; the batch goes in as it is', async () => {
    const bundle = await exportTeacher(path.join(root, 'same-size'), TEACHER_TAGS, SIZE, 4);
    const teacher = await openTeacher(bundle, student, 1);
    const tagger = await createTagger(bundle, { threads: 1 });
    try {
      expect([teacher.known, teacher.direct]).toEqual([5, true]);
      const x = new Float32Array(3 * SIZE * SIZE * 3);
      for (let i = 0; i < 3; i++) x.set(drawSample(SIZE, 50 + i).x, i * SIZE * SIZE * 3);
      const probs = await tagger.predict(x.slice(), 3);
      const { logits, mask } = await teacher.targets(x);
      for (let n = 0; n < 3; n++) {
        SHAPE_TAGS.forEach((tag, k) => {
          const j = TEACHER_TAGS.indexOf(tag);
          expect(mask[n * SHAPE_TAGS.length + k]).toBe(j < 0 ? 0 : 1);
          expect(logits[n * SHAPE_TAGS.length + k]).toBeCloseTo(j < 0 ? 0 : logit(probs[n * TEACHER_TAGS.length + j]!), 4);
        });
      }
      // the scaled head makes its opinion strong: not a teacher that says 0.5 everywhere
      expect(Math.max(...logits.map(Math.abs))).toBeGreaterThan(1);
    } finally {
      await Promise.all([teacher.close(), tagger.close()]);
    }
  }, 30_000);

  test('a teacher at another input size sees the student\'s image resized by its own preprocessing', async () => {
    const bundle = await exportTeacher(path.join(root, 'larger'), SHAPE_TAGS, 24, 5);
    const teacher = await openTeacher(bundle, student, 1);
    const tagger = await createTagger(bundle, { threads: 1 });
    try {
      expect(teacher.direct).toBe(false);
      // flat colours survive any resize exactly: the 16 px student image must give the 24 px image's scores
      const colours = [[200, 30, 60], [10, 250, 128]] as const;
      const small = new Float32Array(2 * SIZE * SIZE * 3), large = new Float32Array(2 * 24 * 24 * 3);
      colours.forEach((c, n) => {
        for (let i = 0; i < SIZE * SIZE * 3; i++) small[n * SIZE * SIZE * 3 + i] = c[i % 3]! / 255;
        for (let i = 0; i < 24 * 24 * 3; i++) large[n * 24 * 24 * 3 + i] = c[i % 3]! / 255;
      });
      const probs = await tagger.predict(large, 2);
      const { logits, mask } = await teacher.targets(small);
      expect(Array.from(mask)).toEqual(new Array(12).fill(1));
      logits.forEach((v, i) => expect(v).toBeCloseTo(logit(probs[i]!), 4));
      expect(Math.abs(logits[0]! - logits[6]!) + Math.abs(logits[2]! - logits[8]!)).toBeGreaterThan(1e-3); // the two colours differ
    } finally {
      await Promise.all([teacher.close(), tagger.close()]);
    }
  }, 30_000);

  test('a teacher that knows none of the tags is refused, naming what it has', async () => {
    const bundle = await exportTeacher(path.join(root, 'foreign'), ['cat', 'dog'], SIZE, 6);
    await expect(openTeacher(bundle, student, 1)).rejects.toThrow(/knows none of the project's 6 tags \(it has 2, such as cat, dog\)/);
  }, 30_000);
});
