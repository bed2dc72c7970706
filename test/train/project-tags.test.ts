/**
 * A project's categories.json is read by the same validated reader as a release's on import: a broken file is
 * a coded error naming it, before any training starts (it was a bare SyntaxError, E_INTERNAL).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { trainProject } from '../../src/train/project-training.ts';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-project-tags-'));
  await fs.writeFile(path.join(dir, 'tags.txt'), 'a\nb\nmiku\nrating:safe\n');
  await fs.writeFile(path.join(dir, 'project.json'), JSON.stringify({
    image_width: 16, image_height: 16, database_path: path.join(dir, 'training.sqlite'), minimum_tag_count: 1, model: 'test_tiny',
    minibatch_size: 4, epoch_count: 1, checkpoint_frequency_mb: 2, console_logging_frequency_mb: 100,
  }));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

test.each([
  ['not JSON', '[{"name": "General", "start_index": 0},', /categories file .*categories\.json: cannot be read as JSON/],
  ['ranges out of order', JSON.stringify([{ name: 'Character', start_index: 2 }, { name: 'General', start_index: 0 }]), /start_index values must increase/],
  ['a range beyond tags.txt', JSON.stringify([{ name: 'General', start_index: 0 }, { name: 'Character', start_index: 9 }]), /character starts at 9, outside the 4 tags of tags.txt/],
])('categories.json %s is refused with its file named', async (_, text, message) => {
  await fs.writeFile(path.join(dir, 'categories.json'), text);
  const run = trainProject({ dir, log: () => undefined });
  await expect(run).rejects.toThrow(message);
  await expect(run).rejects.toMatchObject({ code: 'E_MODEL' });
});
