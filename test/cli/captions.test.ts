/**
 * `tag --save-txt` with the caption options kohya and OneTrainer users pass, writing real files: the caption
 * of each run is checked against the tags the same run printed, rearranged by hand as each option says.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { noiseImage } from '../helpers/images.ts';
import { makeBundle } from '../server/_fixtures.ts';

type Result = { file: string; tags: { name: string; category: string }[]; rating: { name: string } | null; error: string | null };

let dir: string, bundle: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-captions-'));
  bundle = await makeBundle(dir);
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A fresh folder with one image, tagged by `args` (the bundled model unless `--model`); the run's tags and its folder. */
async function run(name: string, args: string[]) {
  const folder = path.join(dir, name);
  await fs.mkdir(folder);
  const image = await noiseImage(path.join(folder, 'img.png'), 96, 80, 5);
  const r = await cli(['tag', image, '--save-txt', '-f', 'json', ...args]);
  expect(r.code, r.stderr).toBe(0);
  const [result] = JSON.parse(r.stdout) as Result[];
  return { folder, result: result!, stderr: r.stderr };
}

const read = (file: string) => fs.readFile(file, 'utf8');

describe('tag --save-txt: caption options on the bundled model', () => {
  // six tags of models/default, highest score first, each case rearranging their names by hand
  const cases: [string, string[], (names: string[]) => string][] = [
    ['defaults', [], (n) => n.join(', ')],
    ['separator', ['--caption-separator', ' | '], (n) => n.join(' | ')],
    ['separator-comma', ['--caption-separator', ','], (n) => n.join(',')],
    ['max-tags', ['--max-tags', '2'], (n) => n.slice(0, 2).join(', ')],
    ['replace', ['--replace', 'RENAME0=new_name, DROP1='], (n) => ['new_name', ...n.slice(2)].join(', ')],
    ['replace-repeated', ['--replace', 'RENAME0=x', '--replace', 'RENAME1=y'], (n) => ['x', 'y', ...n.slice(2)].join(', ')],
    ['always-first', ['--always-first', 'FIRST3, not_a_tag_here'], (n) => [n[3], ...n.filter((_, i) => i !== 3)].join(', ')],
    ['always-first-order', ['--always-first', 'FIRST4', '--always-first', 'FIRST3'], (n) => [n[4], n[3], ...n.slice(0, 3), n[5]].join(', ')],
    ['underscores', ['--replace-underscores'], (n) => n.map((t) => t.replace(/_/g, ' ')).join(', ')],
    ['combined', ['--max-tags', '3', '--always-first', 'FIRST3', '--replace-underscores', '--caption-separator', ','],
      (n) => n.slice(0, 3).map((t) => t.replace(/_/g, ' ')).join(',')],
  ];

  // the tags are known only after a run: a first run names them, the cases use them in their options
  let names: string[];
  beforeAll(async () => {
    names = (await run('probe', ['-t', '0', '-k', '6'])).result.tags.map((t) => t.name);
    expect(names).toHaveLength(6);
  });

  test.each(cases)('%s', async (name, template, want) => {
    const args = template.map((a) => a.replace(/(RENAME|DROP|FIRST)(\d)/g, (_, __, i: string) => names[Number(i)]!));
    const { folder, result, stderr } = await run(name, ['-t', '0', '-k', '6', ...args]);
    expect(result.tags.map((t) => t.name)).toEqual(names);
    expect(await read(path.join(folder, 'img.txt'))).toBe(`${want(names)}\n`);
    expect(stderr).toBe('wrote 1 caption (1 new)\n');
  });

  test('--caption-extension .caption writes img.caption and no img.txt', async () => {
    const { folder, result } = await run('extension', ['-t', '0', '-k', '4', '--caption-extension', '.caption']);
    expect(await read(path.join(folder, 'img.caption'))).toBe(`${result.tags.map((t) => t.name).join(', ')}\n`);
    expect(await fs.readdir(folder)).toEqual(['img.caption', 'img.png']);
  });

  test('a caption that would be the image itself is refused for that image (an image named outside --ext)', async () => {
    const folder = path.join(dir, 'same-name');
    await fs.mkdir(folder);
    const image = await noiseImage(path.join(folder, 'img.jpg'), 40, 40, 6);
    const before = await fs.readFile(image);
    const r = await cli(['tag', image, '--ext', 'png', '--save-txt', '--caption-extension', '.JPG', '-f', 'jsonl']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: ${image}: cannot write caption: img.JPG: the caption file would replace the image`);
    expect(r.stderr.trim().split('\n').at(-1)).toBe('wrote 0 captions, 1 failed');
    expect((await fs.readFile(image)).equals(before)).toBe(true);
  });
});

describe('tag --save-txt: characters and the rating (a bundle with every category)', () => {
  test('--character-first --with-rating --escape-parens, as kohya orders them and the WD demo escapes', async () => {
    const { folder, result } = await run('characters', ['--model', bundle, '-t', '0', '--character-first', '--with-rating', '--replace-underscores', '--escape-parens']);
    const characters = result.tags.filter((t) => t.category === 'character').map((t) => t.name);
    const others = result.tags.filter((t) => t.category !== 'character').map((t) => t.name);
    expect(characters.sort()).toEqual(['hatsune_miku', 'kagamine_rin']);
    expect(others).toContain('star_(sky)');
    const format = (t: string) => t.replace(/_/g, ' ').replace(/([()])/g, '\\$1');
    const want = [result.rating!.name, ...result.tags.filter((t) => t.category === 'character').map((t) => t.name), ...others].map(format);
    expect(await read(path.join(folder, 'img.txt'))).toBe(`${want.join(', ')}\n`);
    expect(want).toContain('star \\(sky\\)');
  });

  test('--max-tags counts general tags only', async () => {
    const { folder, result } = await run('max-general', ['--model', bundle, '-t', '0', '--max-tags', '1']);
    const general = result.tags.filter((t) => t.category === 'general').map((t) => t.name);
    const want = result.tags.filter((t) => t.category !== 'general' || t.name === general[0]).map((t) => t.name);
    expect(want).toHaveLength(1 + 2 + 1); // the best general tag, two characters, the copyright
    expect(await read(path.join(folder, 'img.txt'))).toBe(`${want.join(', ')}\n`);
  });
});

describe('tag --save-txt: the summary line', () => {
  test('counts new, merged, overwritten, kept and failed captions', async () => {
    const folder = path.join(dir, 'summary');
    await fs.mkdir(folder);
    for (const [i, name] of ['a', 'b', 'c', 'e'].entries()) await noiseImage(path.join(folder, `${name}.png`), 40, 40, i + 1);
    await fs.writeFile(path.join(folder, 'bad.png'), 'not an image\n');
    await fs.writeFile(path.join(folder, 'b.txt'), 'masterpiece\n');
    await fs.writeFile(path.join(folder, 'c.txt'), 'best quality\n');
    await fs.mkdir(path.join(folder, 'e.txt')); // a caption that cannot be written
    const tag = async (...args: string[]) => {
      const r = await cli(['tag', folder, '-t', '0', '-k', '2', '--save-txt', '-f', 'jsonl', ...args]);
      expect(r.code).toBe(1);
      return r.stderr.trim().split('\n').at(-1);
    };

    expect(await tag('--existing', 'append')).toBe('wrote 3 captions (1 new, 2 merged with existing), 2 failed');
    expect(await read(path.join(folder, 'b.txt'))).toMatch(/^masterpiece, \S/);
    expect(await tag('--existing', 'ignore')).toBe('wrote 0 captions, skipped 3 (existing kept: --existing ignore), 2 failed');
    await fs.rm(path.join(folder, 'a.txt'));
    expect(await tag()).toBe('wrote 3 captions (1 new, 2 overwritten), 2 failed');
    expect(await read(path.join(folder, 'b.txt'))).not.toContain('masterpiece');
  });

  test('no summary without --save-txt', async () => {
    const image = await noiseImage(path.join(dir, 'plain.png'), 40, 40, 3);
    const r = await cli(['tag', image, '-f', 'jsonl']);
    expect(r.stderr).toBe('');
  });
});

describe('tag: bad caption options are usage errors naming the option', () => {
  test.each([
    [['--caption-extension', 'txt'], /Expected an extension such as \.txt or \.caption \(a leading dot, no path separator\) for --caption-extension but received "txt": did you mean "\.txt"\?$/m],
    [['--caption-extension', '../captions/x'], /for --caption-extension but received "\.\.\/captions\/x"$/m],
    [['--caption-extension', '.PNG'], /Expected an extension other than the images' \(png, .*\) for --caption-extension but received "\.PNG": the captions would replace the images$/m],
    [['--caption-separator', ''], /Expected one or more characters such as ", " for --caption-separator but received ""$/m],
    [['--max-tags', '2.5'], /Expected an integer between 0 and 1000000 for --max-tags but received "2\.5"$/m],
    [['--replace', 'long_hair'], /Expected from=to \(\\, and \\= for a literal comma or equals sign\) for --replace but received "long_hair"$/m],
    [['--replace', 'a=b', '--replace', 'A=c'], /Expected each tag replaced once for --replace but received "A": "a" is replaced already$/m],
  ])('%j', async (args, message) => {
    const image = path.join(dir, 'usage.png');
    await noiseImage(image, 32, 32, 4);
    // refused with or without --save-txt, before any file is read
    for (const save of [['--save-txt'], []]) {
      const r = await cli(['tag', image, ...save, ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    expect(await fs.readdir(dir)).not.toContain('usage.txt');
  });
});
