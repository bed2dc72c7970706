/** `tagbooru grad-cam`: DeepDanbooru's folder layout, safe names, a project as the model, bad inputs skipped. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { quadrantBundle, scenePng } from './_quadrants.ts';

let dir: string, quadrants: string, red: string, wide: string, broken: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-grad-cam-'));
  quadrants = await quadrantBundle();
  red = path.join(dir, 'red.png');
  wide = path.join(dir, 'wide blue.png');
  broken = path.join(dir, 'broken.png');
  await fs.writeFile(red, await scenePng([{ colour: 'red', quadrant: 0 }], 99));
  await fs.writeFile(wide, await scenePng([{ colour: 'blue', quadrant: 3 }], 4, 64, 48));
  await fs.writeFile(broken, (await fs.readFile(red)).subarray(0, 50));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const size = async (file: string) => {
  const m = await sharp(file).metadata();
  return [m.width, m.height, m.channels];
};

interface RegionsJson {
  file: string;
  method: string;
  width: number;
  height: number;
  tags: { name: string; category: string; score: number; box: number[] | null; peak: number[]; threshold: number; mask: string }[];
}
const regions = async (folder: string) => JSON.parse(await fs.readFile(path.join(folder, 'regions.json'), 'utf8')) as RegionsJson;

describe('grad-cam', () => {
  test('writes DeepDanbooru\'s layout per image, plus overlays, masks and regions', async () => {
    const out = path.join(dir, 'out');
    const r = await cli(['grad-cam', '--model', quadrants, '--tags', 'red_square,blue_square', red, wide, out]);
    expect(r.stderr).toBe(`${red}: 2 tags → ${path.join(out, 'red')}\n${wide}: 2 tags → ${path.join(out, 'wide blue')}\n`);
    expect(r.code).toBe(0);
    const folder = path.join(out, 'wide blue');
    const files = (await fs.readdir(folder)).sort();
    expect(files).toEqual(['input.png', 'regions.json', 'regions.png', ...['blue_square', 'red_square'].flatMap((t) => [`mask-${t}.png`, `overlay-${t}.png`, `result-${t}-masked.png`, `result-${t}.png`])].sort());
    // the network input and its maps at 32×32; what is drawn on the image at the image's 64×48
    expect(await size(path.join(folder, 'input.png'))).toEqual([32, 32, 3]);
    expect(await size(path.join(folder, 'result-blue_square.png'))).toEqual([32, 32, 1]);
    expect(await size(path.join(folder, 'result-blue_square-masked.png'))).toEqual([32, 32, 3]);
    for (const f of ['overlay-blue_square.png', 'regions.png']) expect(await size(path.join(folder, f))).toEqual([64, 48, 3]);
    expect(await size(path.join(folder, 'mask-blue_square.png'))).toEqual([64, 48, 1]);
    const json = await regions(folder);
    expect([json.file, json.method, json.width, json.height]).toEqual([wide, 'cam', 64, 48]);
    const blue = json.tags.find((t) => t.name === 'blue_square')!;
    expect(blue).toMatchObject({ category: 'general', threshold: 0.5, mask: 'mask-blue_square.png' });
    expect(blue.score).toBeGreaterThan(0.5);
    expect(blue.peak[0]).toBeGreaterThanOrEqual(32); // bottom right
    expect(blue.peak[1]).toBeGreaterThanOrEqual(24);
    // the mask file is the region: its pixels lie inside the box
    const mask = await sharp(path.join(folder, blue.mask)).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    const [x0, y0, x1, y1] = blue.box!;
    let inside = 0, outside = 0;
    mask.data.forEach((v, i) => {
      if (v === 0) return;
      const x = i % 64, y = Math.floor(i / 64);
      if (x >= x0! && x < x1! && y >= y0! && y < y1!) inside++;
      else outside++;
    });
    expect(inside).toBeGreaterThan(0);
    expect(outside).toBeLessThan(inside * 0.05);
  });

  test('tag names with : and / become safe file names; saliency writes the RGB gradient map', async () => {
    const tags = path.join(dir, 'tags.txt');
    await fs.writeFile(tags, 'long_hair\nrating:safe\nface/hand\n');
    const bundle = path.join(dir, 'init');
    expect((await cli(['init-model', 'test_tiny', '--tags', tags, '--image-size', '32', '--out', bundle])).code).toBe(0);
    const out = path.join(dir, 'safe');
    const r = await cli(['grad-cam', '--model', bundle, '--tags', 'rating:safe,face/hand', red, out]);
    expect(r.code).toBe(0);
    const files = await fs.readdir(path.join(out, 'red'));
    for (const t of ['rating_safe', 'face_hand']) expect(files).toEqual(expect.arrayContaining([`result-${t}.png`, `result-${t}-masked.png`, `overlay-${t}.png`, `mask-${t}.png`]));
    expect((await regions(path.join(out, 'red'))).tags.map((t) => [t.name, t.mask])).toEqual([['rating:safe', 'mask-rating_safe.png'], ['face/hand', 'mask-face_hand.png']]);

    // saliency needs the training weights this bundle does not have: the error says what to use
    const s = await cli(['grad-cam', '--model', bundle, '--method', 'saliency', red, out]);
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/saliency needs the training weights that tagbooru-trained bundles and \.h5\/\.keras imports carry; use scorecam/);
    const ok = await cli(['grad-cam', '--model', quadrants, '--method', 'saliency', '--tags', 'red_square', red, path.join(dir, 'saliency')]);
    expect(ok.code).toBe(0);
    expect(await size(path.join(dir, 'saliency', 'red', 'result-red_square.png'))).toEqual([32, 32, 3]);
  });

  test('DeepDanbooru\'s `grad-cam <project> <images> <out>`: the project\'s exported model', async () => {
    const project = path.join(dir, 'project');
    await fs.mkdir(project);
    await fs.writeFile(path.join(project, 'project.json'), JSON.stringify({ model: 'test_tiny', image_width: 32, image_height: 32 }));
    await fs.cp(quadrants, path.join(project, 'model-test_tiny'), { recursive: true });
    const out = path.join(dir, 'from-project');
    const r = await cli(['grad-cam', project, red, out]);
    expect(r.code).toBe(0);
    // default tags: the thresholds' choice without `solo`, which has no place
    expect((await regions(path.join(out, 'red'))).tags.map((t) => t.name)).toEqual(['red_square']);
    const all = await cli(['grad-cam', '--project', project, '--all-tags', red, path.join(dir, 'all')]);
    expect(all.code).toBe(0);
    expect((await regions(path.join(dir, 'all', 'red'))).tags.map((t) => t.name).sort()).toEqual(['red_square', 'solo']);
  });

  test('a corrupt image is reported and skipped, the others are written, exit 1', async () => {
    const out = path.join(dir, 'mixed');
    const r = await cli(['grad-cam', '--model', quadrants, red, broken, wide, out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`error: ${broken}: corrupt or truncated image data`));
    expect(r.stderr).toMatch(/1 of 3 files skipped\n$/);
    expect((await fs.readdir(out)).sort()).toEqual(['red', 'wide blue']);
  });

  test('usage errors exit 2 and say what was expected', async () => {
    const none = await cli(['grad-cam', red]);
    expect([none.code, none.stderr]).toEqual([2, 'tagbooru grad-cam: give at least one image and the output folder\n']);
    const method = await cli(['grad-cam', '--model', quadrants, '--method', 'lime', red, path.join(dir, 'x')]);
    expect([method.code, method.stderr]).toEqual([2, 'tagbooru grad-cam: Expected one of cam, gradcam, scorecam, saliency for --method but received "lime"\n']);
    const threshold = await cli(['grad-cam', '--model', quadrants, '--mask-threshold', '2', red, path.join(dir, 'x')]);
    expect(threshold.code).toBe(2);
    expect(threshold.stderr).toMatch('Expected a number between 0 and 1 for --mask-threshold but received "2"');
    const refine = await cli(['grad-cam', '--model', quadrants, '--refine', 'sharp', red, path.join(dir, 'x')]);
    expect([refine.code, refine.stderr]).toEqual([2, 'tagbooru grad-cam: Expected one of none, guided, segments for --refine but received "sharp"\n']);
  });
});
