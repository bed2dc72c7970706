/**
 * The DeepDanbooru workflow end to end, with the real CLI: create-project → make-training-database (from a
 * folder and from a DanbooruDownloader SQLite) → train-project → SIGKILL → resume → evaluate-project → metrics.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { md5Hex } from '../../src/data/paths.ts';
import { openSqlite } from '../../src/data/sqlite.ts';
import { cli } from '../helpers/cli.ts';
import { SHAPE_TAGS, drawSample } from '../helpers/shapes.ts';

const SIZE = 32;
const IMAGES = 640;
let root: string;

async function png(sample: { x: Float32Array }): Promise<Buffer> {
  const bytes = Uint8Array.from(sample.x, (v) => Math.round(v * 255));
  return sharp(bytes, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toBuffer();
}

function tagsOf(labels: Float32Array): string[] {
  return SHAPE_TAGS.filter((_, i) => labels[i]! > 0.5);
}

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-workflow-'));
  // a folder of images with comma-separated caption sidecars, as caption tools write them
  const folder = path.join(root, 'folder');
  await fs.mkdir(folder);
  for (let i = 0; i < IMAGES; i++) {
    const s = drawSample(SIZE, i);
    await fs.writeFile(path.join(folder, `img${i}.png`), await png(s));
    await fs.writeFile(path.join(folder, `img${i}.txt`), tagsOf(s.labels).map((t) => t.replace('_', ' ')).join(', '));
  }
  await fs.writeFile(path.join(folder, 'broken.png'), 'not an image');
  await fs.writeFile(path.join(folder, 'broken.txt'), 'circle');
});

afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

function runCli(args: string[]) {
  const child = spawn(process.execPath, ['bin/tagbooru.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ code: number | null; out: string }>((resolve) => child.on('exit', (code) => resolve({ code, out })));
  return { child, done, output: () => out };
}

test('create-project → make-training-database → train-project → kill → resume → evaluate-project → metrics', async () => {
  const project = path.join(root, 'project');
  expect((await cli(['create-project', project])).code).toBe(0);
  const config = JSON.parse(await fs.readFile(path.join(project, 'project.json'), 'utf8')) as Record<string, unknown>;
  expect(config).toMatchObject({ image_width: 299, model: 'resnet_custom_v2', minibatch_size: 32, rotation_range: [0, 360] });

  // from a folder: one broken image is reported and skipped, tags.txt derived from the data
  const db = path.join(root, 'data', 'training.sqlite');
  const made = await cli(['make-training-database', '--from-folder', path.join(root, 'folder'), db, '--derive-tags', '5']);
  expect(made.code).toBe(1);
  expect(made.stderr).toMatch(/skipped .*broken\.png/);
  expect(made.stdout).toMatch(`wrote ${db}: ${IMAGES} posts, 1 skipped`);
  const tags = (await fs.readFile(path.join(root, 'data', 'tags.txt'), 'utf8')).trim().split('\n');
  expect([...tags].sort()).toEqual([...SHAPE_TAGS].sort());

  // from a DanbooruDownloader-style SQLite: ratings become rating tags, deleted posts are dropped
  const source = path.join(root, 'danbooru.sqlite');
  const src = openSqlite(source);
  src.exec('CREATE TABLE posts (id INTEGER PRIMARY KEY, md5 TEXT, file_ext TEXT, tag_string TEXT, tag_count_general INTEGER, rating TEXT, score INTEGER, is_deleted INTEGER)');
  const insert = src.prepare('INSERT INTO posts VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  for (let i = 0; i < 40; i++) {
    const s = drawSample(SIZE, 5000 + i), bytes = await png(s), md5 = md5Hex(bytes);
    const dir = path.join(root, 'dd', 'images', md5.slice(0, 2));
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, `${md5}.png`), bytes);
    insert.run(i + 1, md5, 'png', tagsOf(s.labels).join(' '), tagsOf(s.labels).length, 'gsqe'[i % 4], 3, i === 7 ? 1 : 0);
  }
  src.close();
  const dd = await cli(['make-training-database', source, path.join(root, 'dd', 'training.sqlite'), '--start-id', '2', '--vacuum']);
  expect(dd.stdout).toMatch('38 posts'); // ids 2–40 less the deleted one
  const check = openSqlite(path.join(root, 'dd', 'training.sqlite'), { readonly: true });
  expect((check.prepare('SELECT tag_string FROM posts WHERE id = 3').get() as { tag_string: string }).tag_string).toMatch(/ rating:questionable$/);
  check.close();

  // the project trains on the folder database
  await fs.copyFile(path.join(root, 'data', 'tags.txt'), path.join(project, 'tags.txt'));
  await fs.writeFile(path.join(project, 'project.json'), JSON.stringify({
    ...config, image_width: SIZE, image_height: SIZE, database_path: db, minimum_tag_count: 1, model: 'test_small', minibatch_size: 16,
    epoch_count: 8, export_model_per_epoch: 4, checkpoint_frequency_mb: 20, console_logging_frequency_mb: 25, optimizer: 'adam',
    learning_rates: [{ used_epoch: 0, learning_rate: 0.003 }, { used_epoch: 6, learning_rate: 0.001 }], rotation_range: false, flip_horizontal: true,
    validation_fraction: 0.15, something_new: 1,
  }));

  const first = runCli(['train-project', project, '--threads', '2']);
  // kill it once a checkpoint exists, mid-run
  for (let i = 0; i < 600 && !/step-0*(4|6|8)0\b/.test(await fs.readFile(path.join(project, 'checkpoints', 'latest'), 'utf8').catch(() => '')); i++) await new Promise((r) => setTimeout(r, 100));
  first.child.kill('SIGKILL');
  const killed = await first.done;
  expect(killed.code).toBeNull();
  expect(killed.out).toMatch(/warning: .*unknown key "something_new"/);
  expect(killed.out).not.toMatch(/exported .*model-test_small\n/);

  const second = await runCli(['train-project', project, '--threads', '2']).done;
  expect(second.out).toMatch(/resuming from checkpoints\/step-\d+/);
  expect(second.out).toMatch(/Epoch\[\d\] Loss=\d\.\d{6}, P=.*Speed = .* samples\/s, .* %, ETA = /);
  expect(second.out).toMatch(/validation \(\d+ images, threshold 0\.5\): micro F1/);
  expect(second.code).toBe(0);
  const bundle = path.join(project, 'model-test_small');
  await fs.access(path.join(bundle, 'weights.safetensors'));
  await fs.access(path.join(project, 'model-test_small.e4', 'tagger.json'));

  const evaluated = await cli(['evaluate-project', project, path.join(root, 'folder', 'img1.png')]);
  expect(evaluated.stdout).toMatch(/^Tags of .*img1\.png:\n(\(\d\.\d{3}\) \w+\n)+\n$/);

  // held out: the validation split the bundle records; compared with the best constant predictor
  const scored = await cli(['metrics', bundle, db, '--format', 'json']);
  expect(scored.code).toBe(0);
  const m = JSON.parse(scored.stdout) as { samples: number; macroF1: number; mAP: number; perTag: { tag: string; support: number }[] };
  expect(m.samples).toBeGreaterThan(60);
  expect(m.samples).toBeLessThan(150);
  const constantF1 = m.perTag.reduce((s, t) => s + (2 * (t.support / m.samples)) / (1 + t.support / m.samples), 0) / m.perTag.length;
  const constantAP = m.perTag.reduce((s, t) => s + t.support / m.samples, 0) / m.perTag.length;
  console.log(`workflow: validation macro-F1 ${m.macroF1.toFixed(3)} (constant ${constantF1.toFixed(3)}), mAP ${m.mAP.toFixed(3)} (constant ${constantAP.toFixed(3)})`);
  // measured 0.914 and 0.862 in two runs against 0.682: the run-to-run spread of 8 short epochs sets the margin
  expect(m.macroF1).toBeGreaterThan(constantF1 + 0.12);
  expect(m.mAP).toBeGreaterThan(constantAP + 0.25); // measured: 0.902 against 0.524
  // a database the bundle was not trained on can be scored whole
  const other = JSON.parse((await cli(['metrics', bundle, path.join(root, 'dd', 'training.sqlite'), '--all', '-f', 'json'])).stdout) as { samples: number };
  expect(other.samples).toBe(38);
}, 180_000);
