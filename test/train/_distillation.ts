/** Teacher bundles for the distillation tests, and the size of their shape images. */
import path from 'node:path';
import { BUNDLE_FORMAT, BUNDLE_VERSION, presetSpec } from '../../src/infer/bundle.ts';
import { createTrainer } from '../../src/train/trainer.ts';

export const SIZE = 16;
export const IMAGES = 32;

/**
 * A test_tiny bundle with its initial weights and the head scaled by `headScale`, so its probabilities sit
 * far from 0.5 and far from a fresh student's: a teacher whose opinion is easy to tell apart.
 */
export async function exportTeacher(dir: string, tags: readonly string[], size: number, seed: number, headScale = 6): Promise<string> {
  const trainer = await createTrainer({ model: 'test_tiny', tags: tags.length, imageSize: [size, size], batchSize: 1, optimizer: { name: 'adam' }, loss: 'binary_crossentropy', seed, threads: 1 });
  try {
    const head = (await trainer.getWeights()).get('conv2d_15/kernel')!;
    await trainer.setWeights(new Map([['conv2d_15/kernel', head.map((v) => v * headScale)]]), { strict: false });
    return await trainer.exportBundle(dir, {
      format: BUNDLE_FORMAT, version: BUNDLE_VERSION, name: path.basename(dir), preset: 'deepdanbooru', preprocess: presetSpec('deepdanbooru', { width: size, height: size }),
      tags: tags.map((name) => ({ name, category: 'general' })), thresholds: { default: 0.5 }, provenance: { createdBy: 'test' },
    });
  } finally {
    await trainer.close();
  }
}
