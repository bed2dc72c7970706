/**
 * The README as a new user follows it: its quick start and its training recipe, the commands read out of
 * README.md (so the test fails when the README drifts) and run in order with the real CLI, on a folder of
 * images with caption files written here. Nothing is edited by hand between the commands; the only
 * addition is tiny settings on `create-project` (as flags a user could pass) so training takes seconds.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { exportInference } from '../../src/models/export.ts';
import { buildModel } from '../../src/models/registry.ts';
import { SHAPE_TAGS, drawSample } from '../helpers/shapes.ts';
import { randomWeights } from '../import/_fixtures.ts';
import { startHub } from '../import/_hub.ts';

const run = promisify(execFile);
const REPO = path.resolve('.');
const README = await fs.readFile(path.join(REPO, 'README.md'), 'utf8');
const IMAGES = 48;
const SIZE = 32;
/** What a user short of time would pass: a tiny image size and two epochs; the architecture stays the default. */
const TINY = ['--image-size', String(SIZE), '--epochs', '2'];

/** selected_tags.csv rows: name and WD category (9 rating, 0 general, 4 character). */
const WD_TAGS: [string, number][] = [['general', 9], ['sensitive', 9], ['questionable', 9], ['explicit', 9], ['1girl', 0], ['smile', 0], ['hatsune_miku', 4]];
let root: string;

/** The shell commands of the first ```sh block after a heading, `# comments` removed. */
function commandsUnder(heading: string): string[] {
  const at = README.indexOf(`\n${heading}\n`);
  expect(at, `README has no "${heading}" section`).toBeGreaterThan(-1);
  const block = /```sh\n([\s\S]*?)```/.exec(README.slice(at))![1]!;
  return block.split('\n').map((l) => l.replace(/(^|\s)#.*$/, '').trim()).filter(Boolean);
}

/** `npx tagbooru …` resolves to the checkout's own bin; run that, in `cwd`, as a separate process. */
async function tagbooru(command: string, cwd: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  expect(command).toMatch(/^npx tagbooru /);
  const args = command.replace(/^npx tagbooru /, '').split(/\s+/);
  const env = { ...process.env, TAGBOORU_HOME: path.join(root, 'store'), TAGBOORU_MODEL: '', NODE_OPTIONS: '', ...extraEnv };
  try {
    const { stdout, stderr } = await run(process.execPath, [path.join(REPO, 'bin', 'tagbooru.js'), ...args], { cwd, env, maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

async function writeCaptioned(dir: string, count: number, seedBase: number): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (let i = 0; i < count; i++) {
    const s = drawSample(SIZE, seedBase + i);
    const png = await sharp(Uint8Array.from(s.x, (v) => Math.round(v * 255)), { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toBuffer();
    await fs.writeFile(path.join(dir, `img${i}.png`), png);
    // as kohya and OneTrainer write captions: comma-separated, spaces for underscores
    await fs.writeFile(path.join(dir, `img${i}.txt`), SHAPE_TAGS.filter((_, k) => s.labels[k]! > 0.5).map((t) => t.replace('_', ' ')).join(', '));
  }
}

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-readme-'));
  await writeCaptioned(path.join(root, 'my-images'), IMAGES, 0);
  await fs.mkdir(path.join(root, 'some-images'));
  for (let i = 0; i < 2; i++) await fs.copyFile(path.join(root, 'my-images', `img${i}.png`), path.join(root, 'some-images', `new${i}.png`));
});

afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** The ```sh blocks of the README before its first `## ` section, each as its command lines. */
function quickStartBlocks(): string[][] {
  const top = README.slice(0, README.indexOf('\n## '));
  return [...top.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.split('\n').map((l) => l.replace(/(^|\s)#.*$/, '').trim()).filter(Boolean));
}

test('the quick start: one install, the command CI runs, the samples tagged, a real model pulled and used', async () => {
  const [setup, pull] = quickStartBlocks();
  const ci = (await fs.readFile(path.join(REPO, '.ci', 'run'), 'utf8')).split('\n').filter((l) => /^npm /.test(l));
  expect(ci.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['npm ci', 'npm test']);
  // install once, then test: no second `npm ci`
  expect(setup).toEqual(['npm ci && npx tagbooru tag samples/', 'npm test']);
  const tagged = await tagbooru(setup![0]!.split(' && ')[1]!, REPO);
  expect(tagged.code).toBe(0);
  expect(tagged.stdout).toMatch(/heldout-\d+\.png/);
  // it says what the bundled model is
  const model = JSON.parse(await fs.readFile(path.join(REPO, 'models', 'default', 'tagger.json'), 'utf8')) as { tags: unknown[] };
  expect(README.slice(0, README.indexOf('\n## '))).toMatch(new RegExp(`knows ${model.tags.length} tags`));

  // and how to get a real one: the hub here is a stub on 127.0.0.1 serving a tiny model in WD's layout
  expect(pull).toEqual(['npx tagbooru pull wd-swinv2-tagger-v3', 'npx tagbooru tag photos/ --model wd-swinv2-tagger-v3']);
  const spec = buildModel('test_tiny', { tags: WD_TAGS.length, imageSize: [32, 32] });
  const onnx = exportInference(spec, randomWeights(spec, 3, 0.01), { inputName: 'input', outputName: 'output' });
  const csv = ['tag_id,name,category,count', ...WD_TAGS.map(([n, c], i) => `${i},${n},${c},${100 - i}`)].join('\n');
  const repo = '/SmilingWolf/wd-swinv2-tagger-v3/resolve/main';
  const hub = await startHub({ files: new Map([[`${repo}/model.onnx`, onnx], [`${repo}/selected_tags.csv`, Buffer.from(`${csv}\n`)]]) });
  try {
    await fs.mkdir(path.join(root, 'photos'));
    await fs.copyFile(path.join(REPO, 'samples', 'heldout-1000004.png'), path.join(root, 'photos', 'photo.png'));
    const pulled = await tagbooru(pull![0]!, root, { TAGBOORU_HUB_URL: hub.url });
    expect(pulled.code, pulled.stderr).toBe(0);
    const used = await tagbooru(`${pull![1]!} --format json --threshold 0`, root);
    expect(used.code, used.stderr).toBe(0);
    const [result] = JSON.parse(used.stdout) as { tags: { name: string }[] }[];
    expect(result!.tags.map((t) => t.name).sort()).toEqual(WD_TAGS.filter(([, c]) => c !== 9).map(([n]) => n).sort());
  } finally {
    await hub.close();
  }
}, 60_000);

test('the training recipe runs as written on a folder of images with caption files', async () => {
  const commands = commandsUnder('## Train your own tagger');
  expect(commands[0]).toMatch(/^npx tagbooru create-project my-project --from-folder my-images\/$/);
  const outputs: string[] = [];
  for (const [i, command] of commands.entries()) {
    const r = await tagbooru(i === 0 ? `${command} ${TINY.join(' ')}` : command, root);
    expect(r.stderr, command).not.toMatch(/error/i);
    expect(r.code, `${command}\n${r.stdout}${r.stderr}`).toBe(0);
    outputs.push(r.stdout);
  }
  const [created, trained, evaluated] = outputs;

  // one command made everything train-project reads
  const project = path.join(root, 'my-project');
  const config = JSON.parse(await fs.readFile(path.join(project, 'project.json'), 'utf8')) as Record<string, unknown>;
  expect(config).toMatchObject({ database_path: 'data/training.sqlite', minimum_tag_count: 1, model: 'resnet_custom_narrow', image_width: SIZE, epoch_count: 2 });
  const tags = (await fs.readFile(path.join(project, 'tags.txt'), 'utf8')).trim().split('\n');
  expect([...tags].sort()).toEqual([...SHAPE_TAGS].sort());
  expect(JSON.parse(await fs.readFile(path.join(project, 'categories.json'), 'utf8'))).toEqual([
    { name: 'General', start_index: 0 }, { name: 'Character', start_index: 6 }, { name: 'System', start_index: 6 }]);
  expect(created).toMatch(`wrote ${path.join('my-project', 'data', 'training.sqlite')}: ${IMAGES} images\n`);

  expect(trained).toMatch(/exported my-project\/model-resnet_custom_narrow\b/);
  expect(evaluated).toMatch(/^Tags of .*new0\.png:\n/);
  // tag --save-txt wrote captions for the new images with the trained model's tags
  const caption = await fs.readFile(path.join(root, 'some-images', 'new0.txt'), 'utf8');
  for (const t of caption.split(',').map((s) => s.trim()).filter(Boolean)) expect(SHAPE_TAGS as readonly string[]).toContain(t.replace(' ', '_'));
}, 120_000);
