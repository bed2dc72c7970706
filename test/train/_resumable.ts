/** A training run the resume test starts, kills with SIGKILL, and starts again. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { resumeTraining, saveRotating } from '../../src/train/checkpoints.ts';
import { runTrainingLoop, type LoopPosition } from '../../src/train/loop.ts';
import { encodeSafetensors } from '../../src/formats/safetensors.ts';
import { createTrainer } from '../../src/train/trainer.ts';
import { SHAPE_TAGS, shapesData } from '../helpers/shapes.ts';

const [dir, out] = process.argv.slice(2) as [string, string];
const SIZE = 16;
const trainer = await createTrainer({ model: 'test_tiny', tags: SHAPE_TAGS.length, imageSize: [SIZE, SIZE], batchSize: 8, optimizer: { name: 'adam' }, loss: 'binary_crossentropy', seed: 5, threads: 1 });
const root = path.join(dir, 'checkpoints');
const resume = (await resumeTraining(trainer, root, { log: (line) => console.error(line) }))?.extra.position as LoopPosition | undefined;
await runTrainingLoop({
  trainer, data: shapesData(SIZE, 100, 7), epochs: 3, batchSize: 8, sampleSize: SIZE * SIZE * 3, tags: SHAPE_TAGS.length, seed: 11,
  learningRate: (epoch) => 1e-3 * (epoch + 1), checkpoint: async (position) => void (await saveRotating(trainer, root, { position })), checkpointEvery: 4, resume,
  onStep: () => new Promise<void>((r) => setTimeout(r, 15)), // slow enough for the test to kill it mid-run
});
const weights = await trainer.getWeights();
await fs.writeFile(out, encodeSafetensors(new Map([...weights].map(([k, v]) => [k, { data: v, shape: [v.length] }]))));
await trainer.close();
