/** A trainer whose worker thread dies: the call in hand rejects at once with E_WORKER, later calls say how to go on. */
import { describe, expect, test } from 'vitest';
import { createTrainer } from '../../src/train/trainer.ts';
import { KILLS, killMidCall } from '../helpers/workers.ts';

const SIZE = 64, TAGS = 3, IMAGES = 512;

describe.each(KILLS)('the training worker, killed by %s', (_, kill) => {
  test('evaluate() rejects with E_WORKER within a second; later calls fail clearly', async () => {
    const trainer = await createTrainer({ model: 'test_tiny', tags: TAGS, imageSize: [SIZE, SIZE], batchSize: 4, optimizer: { name: 'adam' }, loss: 'binary_crossentropy', seed: 5, threads: 1 });
    try {
      const x = new Float32Array(IMAGES * SIZE * SIZE * 3).fill(0.5);
      const error = await killMidCall('the training worker', () => trainer.evaluate(x, IMAGES), kill);
      expect(error.message).toBe('the training worker stopped (exit code 1) with 1 request unanswered; create a new trainer and load the last checkpoint to go on');
      await expect(trainer.counters()).rejects.toBe(error);
    } finally {
      await trainer.close();
    }
  });
});
