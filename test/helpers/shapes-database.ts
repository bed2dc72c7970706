/** The shapes task as a project's data: PNGs with .txt sidecars in `<root>/images`, made into `<root>/training.sqlite` by the real CLI. */
import path from 'node:path';
import { expect } from 'vitest';
import { cli } from './cli.ts';
import { writeShapesFolder } from './shapes.ts';

export async function shapesDatabase(root: string, size: number, count: number): Promise<string> {
  const folder = path.join(root, 'images');
  await writeShapesFolder(folder, count, size);
  const database = path.join(root, 'training.sqlite');
  expect((await cli(['make-training-database', '--from-folder', folder, database, '--derive-tags', '1'])).code).toBe(0);
  return database;
}
