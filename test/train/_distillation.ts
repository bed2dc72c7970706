/** A generated project and teacher bundles for the distillation tests: shape images in a real SQLite database. */
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { imagePath } from '../../src/data/paths.ts';
import { TrainingDatabase } from '../../src/data/training-db.ts';
import { BUNDLE_FORMAT, BUNDLE_VERSION, presetSpec } from '../../src/infer/bundle.ts';
import { createTrainer } from '../../src/train/trainer.ts';
import { SHAPE_TAGS, drawSample } from '../helpers/shapes.ts';

export const SIZE = 16;
export const IMAGES = 32;

/** `count` shape images (16 px) with their tags, as a training database under `dir`. */
export async function shapesDatabase(dir: string, count = IMAGES): Promise<string> {
  const db = path.join(dir, 'training.sqlite');
  const posts = [];
  for (let i = 0; i < count; i++) {
    const s = drawSample(SIZE, 1000 + i), md5 = i.toString(16).padStart(32, '0');
    const file = imagePath(db, md5, 'png');
    await fs.mkdir(path.dirname(file), { recursive: true });
    await sharp(Uint8Array.from(s.x, (v) => Math.round(v * 255)), { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(file);
    const tags = SHAPE_TAGS.filter((_, k) => s.labels[k]! > 0.5);
    posts.push({ id: i + 1, md5, file_ext: 'png', tag_string: tags.join(' '), tag_count_general: tags.length });
  }
  const database = TrainingDatabase.open(db, { create: true });
  database.insertPosts(posts);
  database.close();
  return db;
}

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
