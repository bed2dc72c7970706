/**
 * A tagger whose worker thread dies: the call in hand rejects at once with E_WORKER, and every later call fails
 * the same clear way (a tagger has one worker and does not replace it), for inference and for explaining.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TagbooruError } from '../../src/errors.ts';
import { createTagger } from '../../src/tagger.ts';
import { DEFAULT_MODEL_DIR } from '../../src/package.ts';
import { noiseImage } from '../helpers/images.ts';
import { KILLS, busyWorker, killMidCall } from '../helpers/workers.ts';

let dir: string, images: string[];
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-death-'));
  images = await Promise.all(Array.from({ length: 4 }, (_, i) => noiseImage(path.join(dir, `${i}.png`), 300, 200, i)));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe.each(KILLS)('the inference worker, killed by %s', (_, kill) => {
  test('tag() rejects with E_WORKER within a second; later calls fail clearly', async () => {
    const tagger = await createTagger(DEFAULT_MODEL_DIR, { threads: 1 });
    try {
      // eight images in one batch: a run long enough to be killed in the middle
      const error = await killMidCall('the inference worker', () => tagger.tag(Array.from({ length: 8 }, (_, i) => images[i % 4]!), { batchSize: 8 }), kill);
      expect(error.message).toMatch(/^the inference worker stopped \(exit code 1\) with 1 request unanswered; create a new tagger to retry$/);
      await expect(tagger.tag(images[0]!)).rejects.toBe(error);
    } finally {
      await tagger.close();
    }
  });
});

describe.each(KILLS)('the explain worker, killed by %s', (_, kill) => {
  test('explain() rejects with E_WORKER within a second; later calls fail clearly', async () => {
    const tagger = await createTagger(DEFAULT_MODEL_DIR, { threads: 1 });
    try {
      await tagger.explain(images[0]!, { tags: ['solo'] }); // the variant is built: the next call runs it
      const error = await killMidCall('the explain worker', () => tagger.explain(images.slice(0, 2), { method: 'gradcam' }), kill);
      expect(error.message).toMatch(/^the explain worker stopped \(exit code 1\) with 1 request unanswered; create a new tagger to retry$/);
      await expect(tagger.explain(images[0]!)).rejects.toMatchObject({ code: 'E_WORKER' });
      expect((await tagger.tag(images[0]!)).error).toBeNull(); // inference has a worker of its own
    } finally {
      await tagger.close();
    }
  });
});

test('close() while a batch runs lets the run end instead of aborting the process (terminate() inside ONNX Runtime does)', async () => {
  const tagger = await createTagger(DEFAULT_MODEL_DIR, { threads: 1 });
  const tagging = tagger.tag(Array.from({ length: 8 }, (_, i) => images[i % 4]!), { batchSize: 8 }).then(
    (results) => results.map((r) => r.error).join(),
    (e: TagbooruError) => `${e.code} ${e.message}`,
  );
  await busyWorker('the inference worker');
  await tagger.close();
  // the answer came first, or the stop did (the run had not begun): never an aborted process
  expect(await tagging).toMatch(/^(,{7}|E_WORKER the inference worker was closed; create a new tagger to retry)$/);
});
