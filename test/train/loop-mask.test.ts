/** A sample's loss mask reaches the step graph: through the loop, the trainer and its worker. */
import { expect, test } from 'vitest';
import { runTrainingLoop, type TrainingData } from '../../src/train/loop.ts';
import { createTrainer } from '../../src/train/trainer.ts';
import { SHAPE_TAGS, drawSample } from '../helpers/shapes.ts';

const SIZE = 16, TAGS = SHAPE_TAGS.length;

test('samples whose labels are all unknown train with a zero loss; known ones do not', async () => {
  const trainer = await createTrainer({ model: 'test_tiny', tags: TAGS, imageSize: [SIZE, SIZE], batchSize: 4, optimizer: { name: 'sgd' }, loss: 'binary_crossentropy', seed: 1, threads: 1 });
  try {
    const losses = async (mask: Float32Array | undefined) => {
      const data: TrainingData = { size: 8, load: (i) => Promise.resolve({ ...drawSample(SIZE, i), mask: mask?.slice() }) };
      const seen: number[] = [];
      await runTrainingLoop({ trainer, data, epochs: 1, batchSize: 4, sampleSize: SIZE * SIZE * 3, tags: TAGS, seed: 2, learningRate: () => 0.01, probabilities: true, onStep: (p) => void seen.push(p.loss) });
      return seen;
    };
    expect(await losses(new Float32Array(TAGS))).toEqual([0, 0]);
    for (const loss of await losses(undefined)) expect(loss).toBeGreaterThan(0.1);
  } finally {
    await trainer.close();
  }
}, 60_000);
