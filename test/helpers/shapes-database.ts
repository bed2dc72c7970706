/** The shapes task as a project's data: PNGs with .txt sidecars in `<root>/images`, made into `<root>/training.sqlite` by the real CLI. */
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { expect } from 'vitest';
import { cli } from './cli.ts';
import { SHAPE_TAGS, drawSample } from './shapes.ts';

export async function shapesDatabase(root: string, size: number, count: number): Promise<string> {
  const folder = path.join(root, 'images');
  await fs.mkdir(folder);
  for (let i = 0; i < count; i++) {
    const s = drawSample(size, i);
    await fs.writeFile(path.join(folder, `img${i}.png`), await sharp(Uint8Array.from(s.x, (v) => Math.round(v * 255)), { raw: { width: size, height: size, channels: 3 } }).png().toBuffer());
    await fs.writeFile(path.join(folder, `img${i}.txt`), SHAPE_TAGS.filter((_, k) => s.labels[k]! > 0.5).join(', '));
  }
  const database = path.join(root, 'training.sqlite');
  expect((await cli(['make-training-database', '--from-folder', folder, database, '--derive-tags', '1'])).code).toBe(0);
  return database;
}
