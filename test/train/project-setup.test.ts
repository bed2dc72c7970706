/**
 * `create-project --from-folder`: settings sized to the folder, nothing left behind on failure, and the
 * empty-training-set errors a hand-made project used to hit, each naming the setting and its value.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { folderDefaults, minimumTagFrequency } from '../../src/train/project-setup.ts';
import { cli } from '../helpers/cli.ts';

let root: string, images: string;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-project-setup-'));
  images = path.join(root, 'images');
  await fs.mkdir(images);
  // 30 captioned images of one to three tags, as a small LoRA-style folder has: never 20 tags per image
  for (let i = 0; i < 30; i++) {
    await sharp({ create: { width: 24, height: 24, channels: 3, background: { r: (i * 37) % 256, g: 90, b: 200 } } }).png().toFile(path.join(images, `${i}.png`));
    await fs.writeFile(path.join(images, `${i}.txt`), ['cat', i % 2 ? 'dog' : 'bird', i % 3 ? '' : 'tree'].filter(Boolean).join(', '));
  }
});

afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('settings for a folder of n images', () => {
  test.each([
    // n, minibatch, epochs, validation fraction, tags.txt frequency
    [6, 1, 50, 0.2, 2],
    [40, 8, 50, 0.2, 2],
    [200, 32, 30, 0.1, 2],
    [1000, 32, 10, 0.05, 10],
    [50_000, 32, 10, 0.05, 20],
  ])('%i images: minibatch %i, %i epochs, %f held out, tags on %i+ images', (n, batch, epochs, validation, frequency) => {
    expect(folderDefaults(n)).toMatchObject({ minibatch_size: batch, epoch_count: epochs, validation_fraction: validation, minimum_tag_count: 1 });
    expect(minimumTagFrequency(n)).toBe(frequency);
  });
});

test('the DeepDanbooru recipe on caption files: the empty training set names minimum_tag_count, its value and the file', async () => {
  const project = path.join(root, 'by-hand');
  expect((await cli(['create-project', project])).code).toBe(0);
  const db = path.join(project, 'data', 'training.sqlite');
  expect((await cli(['make-training-database', '--from-folder', images, db, '--derive-tags', '2'])).code).toBe(0);
  await fs.copyFile(path.join(project, 'data', 'tags.txt'), path.join(project, 'tags.txt'));
  const file = path.join(project, 'project.json');
  const config = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  await fs.writeFile(file, JSON.stringify({ ...config, database_path: 'data/training.sqlite' }));

  const empty = await cli(['train-project', project]);
  expect(empty.code).toBe(2);
  expect(empty.stderr).toContain(`none of the 30 images in ${db} has 20 or more general tags (the most on one image is 3): lower "minimum_tag_count" in ${file} (now 20;`);

  await fs.writeFile(file, JSON.stringify({ ...config, database_path: 'data/training.sqlite', minimum_tag_count: 1, validation_fraction: 0.99 }));
  expect((await cli(['train-project', project])).stderr).toMatch(`usable images fell in the validation split: lower "validation_fraction" in ${file} (now 0.99)`);

  await fs.writeFile(file, JSON.stringify({ ...config, database_path: 'data/training.sqlite', minimum_tag_count: 1, validation_fraction: 0 }));
  expect((await cli(['train-project', project])).stderr).toMatch(`30 training images are fewer than one minibatch: lower "minibatch_size" in ${file} (now 32)`);
});

test('create-project --from-folder: a ready project, or nothing at all', async () => {
  const project = path.join(root, 'from-folder');
  const refused = await cli(['create-project', project, '--from-folder', images, '--min-tag-frequency', '31']);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toMatch('no tag is on 31 or more of the 30 images (the most common is on 30); lower --min-tag-frequency (now 31)');
  await expect(fs.access(project)).rejects.toThrow(); // so the same command can simply be run again

  const bad = await cli(['create-project', project, '--from-folder', images, '--model', 'resnet_custom_v9']);
  expect(bad.stderr).toMatch(/Unknown model "resnet_custom_v9" for --model\. Known: resnet_custom_v1, /);

  const made = await cli(['create-project', project, '--from-folder', images]);
  expect(made.code).toBe(0);
  // cat on 30, dog and bird on 15, tree on 10: every tag is on at least 2 (1 % of 30, at least 2)
  expect(await fs.readFile(path.join(project, 'tags.txt'), 'utf8')).toBe('bird\ncat\ndog\ntree\n');
  expect(made.stdout).toMatch(`wrote ${path.join(project, 'project.json')}: resnet_custom_narrow at 160×160, 50 epochs of 4, 20 % held out for validation`);
  const config = JSON.parse(await fs.readFile(path.join(project, 'project.json'), 'utf8')) as Record<string, unknown>;
  expect(config).toMatchObject({ database_path: 'data/training.sqlite', minimum_tag_count: 1, minibatch_size: 4, epoch_count: 50, rotation_range: [-10, 10] });

  const again = await cli(['create-project', project, '--from-folder', images]);
  expect(again.stderr).toMatch(`${path.join(project, 'project.json')} exists already`);
  expect((await cli(['create-project', path.join(root, 'plain'), '--min-tag-frequency', '3'])).stderr).toMatch('--manifest and --min-tag-frequency go with --from-folder');
  // without a folder: DeepDanbooru's defaults, the flags on top; its export every 10 epochs stays
  expect((await cli(['create-project', path.join(root, 'plain'), '--epochs', '30', '--model', 'resnet_custom_mini'])).code).toBe(0);
  expect(JSON.parse(await fs.readFile(path.join(root, 'plain', 'project.json'), 'utf8'))).toMatchObject({
    epoch_count: 30, export_model_per_epoch: 10, model: 'resnet_custom_mini', minimum_tag_count: 20, image_width: 299, database_path: null });
});
