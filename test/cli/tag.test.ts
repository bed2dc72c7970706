import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTagger } from '../../src/tagger.ts';
import { cli } from '../helpers/cli.ts';
import { badInputs, noiseImage, solidImage } from '../helpers/images.ts';

let dir: string, bundle: string, images: string;
const TAGS = ['long_hair', 'short_hair', 'blue_eyes', 'hat', 'smile', 'hatsune_miku', 'rating:safe', 'rating:questionable', 'rating:explicit'];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-cli-'));
  bundle = path.join(dir, 'bundle');
  images = path.join(dir, 'images');
  await fs.mkdir(images);
  await fs.writeFile(path.join(dir, 'tags.txt'), `${TAGS.join('\n')}\n`);
  const init = await cli(['init-model', 'test_tiny', '--tags', path.join(dir, 'tags.txt'), '--image-size', '64', '--out', bundle, '--seed', '7']);
  expect(init.stderr).toBe('');
  expect(init.code).toBe(0);
  await noiseImage(path.join(images, 'a.png'), 120, 80, 1);
  await noiseImage(path.join(images, 'b.jpg'), 50, 90, 2);
  await solidImage(path.join(images, 'c10.png'), 33, 33, [200, 30, 30]);
  await solidImage(path.join(images, 'c2.png'), 64, 64, [30, 200, 30]);
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('tag', () => {
  test('tags a folder as JSON, every tag a known name with a score over the threshold', async () => {
    const r = await cli(['tag', images, '--model', bundle, '--format', 'json', '--threshold', '0.2']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { file: string; tags: { name: string; category: string; score: number }[]; rating: { name: string } | null; error: string | null }[];
    // natural order, as DeepDanbooru sorts paths: c2 before c10
    expect(out.map((o) => path.basename(o.file))).toEqual(['a.png', 'b.jpg', 'c2.png', 'c10.png']);
    for (const o of out) {
      expect(o.error).toBeNull();
      expect(o.rating?.name).toMatch(/^rating:/);
      for (const t of o.tags) {
        expect(TAGS).toContain(t.name);
        expect(t.category).toBe('general');
        expect(t.score).toBeGreaterThanOrEqual(0.2);
      }
      expect(o.tags.map((t) => t.score)).toEqual([...o.tags.map((t) => t.score)].sort((x, y) => y - x));
    }
  });

  test('batch size does not change the scores', async () => {
    const one = JSON.parse((await cli(['tag', images, '--model', bundle, '-f', 'json', '-t', '0', '-b', '1'])).stdout) as { tags: { name: string; score: number }[] }[];
    const four = JSON.parse((await cli(['tag', images, '--model', bundle, '-f', 'json', '-t', '0', '-b', '4'])).stdout) as { tags: { name: string; score: number }[] }[];
    expect(one.length).toBe(4);
    for (let i = 0; i < one.length; i++) {
      const a = Object.fromEntries(one[i]!.tags.map((t) => [t.name, t.score]));
      for (const t of four[i]!.tags) expect(t.score).toBeCloseTo(a[t.name]!, 3);
    }
  });

  test('a folder of bad inputs: each reported on one line, the good images still tagged, exit 1', async () => {
    const bad = path.join(dir, 'bad');
    await fs.mkdir(bad);
    const names = await badInputs(bad);
    await noiseImage(path.join(bad, 'good.png'), 40, 40, 3);
    const r = await cli(['tag', bad, '--model', bundle, '--format', 'jsonl']);
    expect(r.code).toBe(1);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; error: string | null; tags: unknown[] });
    const byName = Object.fromEntries(rows.map((o) => [path.basename(o.file), o]));
    expect(byName['good.png']!.error).toBeNull();
    for (const n of names) expect(byName[n]?.error, n).toEqual(expect.any(String));
    expect(byName['empty.png']!.error).toMatch(/empty/i);
    expect(byName['bomb.png']!.error).toMatch(/pixel limit/i);
    expect(byName['folder.jpg']!.error).toMatch(/directory/i);
    const errorLines = r.stderr.trim().split('\n').filter((l) => l.startsWith('error: '));
    expect(errorLines).toHaveLength(names.length);
    for (const line of errorLines) expect(line).toMatch(/^error: \S+: .+/);
    expect(r.stderr).toMatch(`${names.length} of ${names.length + 1} files skipped`);
  });

  test('a FIFO named like an image is reported, not opened: from a folder, by name, from stdin, and in the library', { timeout: 30_000 }, async () => {
    const special = path.join(dir, 'special');
    await fs.mkdir(special);
    const fifo = path.join(special, 'x.png');
    execFileSync('mkfifo', [fifo]);
    await noiseImage(path.join(special, 'y.png'), 40, 40, 4);
    // opening a FIFO for reading waits for a writer: before the fix each of these hung
    for (const [args, stdin] of [[[special]], [[fifo, path.join(special, 'y.png')]], [['-'], `${fifo}\n${path.join(special, 'y.png')}\n`]] as [string[], string?][]) {
      const r = await cli(['tag', ...args, '--model', bundle, '-f', 'jsonl'], { stdin });
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain(`error: ${fifo}: not a regular file (a FIFO)\n`);
      const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; error: string | null });
      expect(rows.map((o) => [path.basename(o.file), o.error === null])).toEqual([['x.png', false], ['y.png', true]]);
    }
    const tagger = await createTagger(bundle);
    try {
      expect((await tagger.tag(fifo)).error).toBe('not a regular file (a FIFO)');
    } finally {
      await tagger.close();
    }
    // a caption that is a FIFO: reported for its image, not read, not replaced
    execFileSync('mkfifo', [path.join(special, 'y.txt')]);
    const r = await cli(['tag', path.join(special, 'y.png'), '--model', bundle, '--save-txt', '-f', 'jsonl']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: ${path.join(special, 'y.png')}: cannot write caption: y.txt: not a regular file (a FIFO)`);
    expect((await fs.stat(path.join(special, 'y.txt'))).isFIFO()).toBe(true);
  });

  test('paths from stdin with `-`, explicit files always tried', async () => {
    const list = [path.join(images, 'a.png'), path.join(images, 'b.jpg')].join('\n');
    const r = await cli(['tag', '-', '--model', bundle, '--format', 'jsonl'], { stdin: `${list}\n` });
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(2);
  });

  test('csv and table formats', async () => {
    const csv = await cli(['tag', path.join(images, 'a.png'), '--model', bundle, '-f', 'csv', '-t', '0', '-k', '3']);
    const lines = csv.stdout.trim().split('\n');
    expect(lines[0]).toBe('file,tag,category,score,error');
    expect(lines).toHaveLength(1 + 1 + 3); // header, the rating, three tags
    const table = await cli(['tag', path.join(images, 'a.png'), '--model', bundle, '-t', '0', '-k', '2']);
    expect(table.stdout.split('\n')[0]).toContain('a.png');
    expect(table.stdout.trim().split('\n')).toHaveLength(3);
  });

  test('bad options name themselves and their valid range, exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['--threshold', '1.5'], /Expected a number between 0 and 1 for --threshold but received "1\.5"$/m],
      [['--batch-size', '0'], /an integer between 1 and 4096 for --batch-size/],
      [['--format', 'xml'], /one of table, json, jsonl, csv for --format/],
      [['--top-k', 'many'], /for --top-k but received "many"/],
      [['--existing', 'merge'], /one of ignore, overwrite, append, prepend for --existing/],
      [['--frobnicate'], /Unknown option '--frobnicate'/],
      [['--tag-threshold', 'hat'], /tag=value for --tag-threshold/],
      [['--tag-threshold', 'hat=2'], /between 0 and 1 for --tag-threshold hat/],
      [['--exclude', '/[unclosed/'], /Expected a regular expression RE2 can run for --exclude but received "\/\[unclosed\/": missing closing \]/],
      [['--exclude', '/(a)\\1/'], /tag: Expected a regular expression RE2 can run for --exclude but received "\/\(a\)\\1\/": backreferences are not supported$/m],
      [['--include', '/long(?=_hair)/'], /for --include but received "\/long\(\?=_hair\)\/": lookahead and lookbehind are not supported/],
      [['--exclude', '/hair/g'], /for --exclude but received "\/hair\/g": flag g is not supported/],
      // Number() reads these as numbers
      [['--threshold', '0x1'], /Expected a number between 0 and 1 for --threshold but received "0x1"$/m],
      [['--general-threshold', ''], /for --general-threshold but received ""$/m],
      [['--character-floor', ' 0.5 '], /for --character-floor but received " 0\.5 "$/m],
      [['--top-k', '0x10'], /an integer between 1 and 1000000 for --top-k but received "0x10"/],
      [['--tag-threshold', 'hat=0b1'], /between 0 and 1 for --tag-threshold hat but received "0b1"/],
      // tags the model does not have, with the closest it has
      [['--tag-threshold', 'lon_hair=0.5'], /tag: Expected a tag of the model for --tag-threshold but received "lon_hair": did you mean long_hair\?$/m],
      [['--tag-threshold', 'hat=0.5', '--tag-threshold', 'blue eye=0.5'], /received "blue eye": did you mean blue_eyes\?$/m],
    ];
    for (const [args, message] of cases) {
      const r = await cli(['tag', images, '--model', bundle, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    // both forms of a known tag are taken; the catastrophic pattern of JavaScript's engine runs at once on RE2's
    const ok = await cli(['tag', images, '--model', bundle, '-f', 'json', '--tag-threshold', 'long hair=0.1,blue_eyes=0.2', '--exclude', '/^(a+)+$/,/(.*){10}!/']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const missing = await cli(['tag', images, '--model', path.join(dir, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/not a model bundle/);
  });
});

describe('captions (--save-txt)', () => {
  test('writes <image>.txt and honours the existing-caption policy', async () => {
    const cap = path.join(dir, 'cap');
    await fs.mkdir(cap);
    const img = await noiseImage(path.join(cap, 'x.png'), 64, 64, 9);
    const txt = path.join(cap, 'x.txt');
    const run = (...extra: string[]) => cli(['tag', img, '--model', bundle, '-t', '0', '-k', '3', '--save-txt', '--replace-underscores', '-f', 'jsonl', ...extra]);
    await run();
    const first = (await fs.readFile(txt, 'utf8')).trim().split(', ');
    expect(first).toHaveLength(3);
    for (const t of first) expect(t).not.toContain('_');
    await fs.writeFile(txt, 'masterpiece, long hair\n');
    await run('--existing', 'ignore');
    expect(await fs.readFile(txt, 'utf8')).toBe('masterpiece, long hair\n');
    await run('--existing', 'prepend');
    const pre = (await fs.readFile(txt, 'utf8')).trim().split(', ');
    expect(pre.slice(0, 3)).toEqual(first);
    expect(pre).toContain('masterpiece');
    expect(pre).toContain('long hair');
    expect(new Set(pre).size).toBe(pre.length);
    await fs.writeFile(txt, 'masterpiece\n');
    await run('--existing', 'append', '--weights');
    const app = (await fs.readFile(txt, 'utf8')).trim().split(', ');
    expect(app[0]).toBe('masterpiece');
    expect(app[1]).toMatch(/^\(.+:\d\.\d\d\)$/);
  });
});

describe('evaluate (DeepDanbooru-compatible)', () => {
  test('prints `Tags of <path>:` and `(0.987) tag` lines in tag order', async () => {
    const r = await cli(['evaluate', path.join(images, 'a.png'), '--model-path', bundle, '--threshold', '0']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`Tags of ${path.join(images, 'a.png')}:`);
    const body = lines.slice(1, 1 + TAGS.length);
    expect(body.map((l) => l.replace(/^\(\d\.\d{3}\) /, ''))).toEqual(TAGS);
    for (const l of body) expect(l).toMatch(/^\(\d\.\d{3}\) \S+$/);
    expect(lines[1 + TAGS.length]).toBe('');
  });

  test('a folder needs --allow-folder, and then uses the original\'s filters (no webp)', async () => {
    expect((await cli(['evaluate', images, '--model-path', bundle])).code).toBe(2);
    const r = await cli(['evaluate', images, '--model-path', bundle, '--allow-folder', '--threshold', '0.99']);
    expect(r.code).toBe(0);
    expect(r.stdout.match(/^Tags of /gm)).toHaveLength(4);
  });
});

describe('init-model', () => {
  test('unknown architecture lists the known ones', async () => {
    const r = await cli(['init-model', 'resnet_custom_v9', '--tags', '10', '--out', path.join(dir, 'x')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Unknown model "resnet_custom_v9". Known: resnet_custom_v1, .*resnet_custom_v4/);
  });

  test('an image size below the architecture\'s minimum is a usage error naming --image-size and the minimum', async () => {
    const out = path.join(dir, 'too-small');
    const r = await cli(['init-model', 'resnet_152', '--tags', '3', '--image-size', '64', '--out', out]);
    expect(r.stderr).toBe('tagbooru init-model: Expected --image-size of at least 193 for resnet_152 but received 64\n');
    expect(r.code).toBe(2);
    await expect(fs.stat(out)).rejects.toThrow(/ENOENT/);
  });
});
