/**
 * Label rules on a tiny hand-built image: a crop or cutout that removes a drawn square makes that square's
 * tag unknown (with its ground-truth mask, and conservatively without one), greyscale makes colour tags
 * unknown and adds monochrome/greyscale, a flip makes sided tags unknown. Unknown is the loss mask's 0;
 * the label itself is never turned negative.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodeMaskPng } from '../../src/dataset/synthetic/mask-png.ts';
import { augmentImage, type AugmentOptions, type DecodedImage } from '../../src/image/index.ts';
import { LabelRules, type Part } from '../../src/train/label-rules.ts';
import { tagProperties } from '../../src/train/tag-properties.ts';

const TAGS = ['square', 'circle', 'red_hair', 'blue_eyes', 'dark_skin', 'smile', 'monochrome', 'greyscale', 'white_background', 'hand_on_left_hip', 'solo', '2others', 'lineart', 'gradient_background', 'blush', 'sunglasses', 'glasses', 'freckles'];
const at = (t: string) => TAGS.indexOf(t);
const OFF: AugmentOptions = { rotation: null, scale: null, shift: null, flip: false, corruption: 0 };
const THRESHOLDS = { part_visible_min: 0.5, frame_visible_min: 0.5 };
const scripted = (...draws: number[]) => () => draws.shift() ?? 0.5;
const SQUARE = [2, 2, 7, 7] as const; // x0, y0, x1, y1 of the red square in the 20×20 picture

let dir: string;
let part: Part;
const image: DecodedImage = { data: new Uint8Array(20 * 20 * 3).fill(255), width: 20, height: 20, channels: 3 };
for (let y = SQUARE[1]; y < SQUARE[3]; y++) for (let x = SQUARE[0]; x < SQUARE[2]; x++) image.data.set([255, 0, 0], (y * 20 + x) * 3);

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-label-rules-'));
  const mask = new Uint8Array(20 * 20);
  for (let y = SQUARE[1]; y < SQUARE[3]; y++) mask.fill(255, y * 20 + SQUARE[0], y * 20 + SQUARE[2]);
  const file = path.join(dir, 'square.png');
  await fs.writeFile(file, encodeMaskPng(mask, 20, 20));
  part = { tag: at('square'), box: SQUARE, file };
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Labels with these tags positive, then the rules applied after an augmentation driven by `draws`. */
async function labelled(positive: string[], o: AugmentOptions, draws: number[], parts: Part[] = []) {
  const labels = new Float32Array(TAGS.length);
  for (const t of positive) labels[at(t)] = 1;
  const result = await augmentImage(image, 20, 20, o, scripted(...draws), new Float32Array(20 * 20 * 3));
  const mask = await new LabelRules(TAGS, THRESHOLDS).apply(labels, result, parts);
  return { labels, mask, result };
}

const crop = { probability: 1, area: [0.25, 0.25], ratio: [1, 1] } as const;
// p, area, ratio, then the corner: ⌊0.99·11⌋ = 10 (the bottom-right quarter) or 0 (the top-left one)
const CROP_AWAY = [0, 0, 0, 0.99, 0.99], CROP_ONTO = [0, 0, 0, 0, 0];

describe('geometry with ground-truth masks', () => {
  test('a crop that removes the drawn square makes its tag unknown, and only that', async () => {
    const { labels, mask } = await labelled(['square', 'smile', 'white_background'], { ...OFF, ops: { crop } }, CROP_AWAY, [part]);
    expect(mask![at('square')]).toBe(0);
    expect(labels[at('square')]).toBe(1); // unknown, not negative
    // smile has no mask, and a quarter of the frame is below frame_visible_min: unknown too; the
    // background is global and the negatives stay known
    expect(mask![at('smile')]).toBe(0);
    expect(mask![at('white_background')]).toBe(1);
    expect(mask![at('circle')]).toBe(1);
  });

  test('a crop that keeps the square keeps its tag; the count tags, positive or negative, become unknown', async () => {
    const { labels, mask } = await labelled(['square', 'solo'], { ...OFF, ops: { crop } }, CROP_ONTO, [part]);
    expect(mask![at('square')]).toBe(1);
    // a crop may have hidden a character: `solo` may now be wrong, and `2others` may have become right
    expect([mask![at('solo')], mask![at('2others')]]).toEqual([0, 0]);
    expect([labels[at('solo')], labels[at('2others')]]).toEqual([1, 0]); // unknown, not changed
    expect(mask!.reduce((a, b) => a + b, 0)).toBe(TAGS.length - 2);
  });

  test('a cutout over the square makes its tag unknown; one beside it does not', async () => {
    const cutout = { probability: 1, size: [0.35, 0.35] } as const; // 7×7
    const over = await labelled(['square'], { ...OFF, ops: { cutout } }, [0, 0, 0, 0, 0], [part]);
    expect(over.result.geometry.cutouts).toEqual([[0, 0, 7, 7]]);
    expect(over.mask![at('square')]).toBe(0);
    const beside = await labelled(['square'], { ...OFF, ops: { cutout } }, [0, 0, 0, 0.99, 0.99], [part]);
    expect(beside.result.geometry.cutouts).toEqual([[13, 13, 20, 20]]);
    expect(beside.mask![at('square')]).toBe(1);
    expect(beside.mask!.reduce((a, b) => a + b, 0)).toBe(TAGS.length - 2); // only the counts: a cutout may hide a character
  });

  test('a shift that pushes the square half out of the frame: the visible share decides', async () => {
    // the square spans x 2..6; a shift of −0.2·20 = −4 leaves columns 6 only (1 of 5): unknown
    const out = await labelled(['square'], { ...OFF, shift: [-0.2, -0.2] }, [], [part]);
    expect(out.mask![at('square')]).toBe(0);
    // −0.1 → −2: columns 4..6 (3 of 5) stay: known
    const kept = await labelled(['square'], { ...OFF, shift: [-0.1, -0.1] }, [], [part]);
    expect(kept.mask).toBeUndefined();
  });
});

describe('geometry without masks', () => {
  test('a crop keeping less than frame_visible_min of the picture makes positive localisable tags unknown', async () => {
    const { mask } = await labelled(['square', 'white_background'], { ...OFF, ops: { crop } }, CROP_ONTO);
    expect(mask![at('square')]).toBe(0);
    expect(mask![at('white_background')]).toBe(1);
    expect(mask![at('circle')]).toBe(1);
  });

  test('DeepDanbooru\'s own warp keeps every label', async () => {
    const o: AugmentOptions = { rotation: [45, 45], scale: [1.1, 1.1], shift: [0.1, 0.1], flip: false, corruption: 0 };
    const { mask } = await labelled(['square', 'smile', 'solo'], o, []);
    expect(mask).toBeUndefined();
  });
});

describe('greyscale and flips', () => {
  test('greyscale makes colour tags unknown and adds monochrome and greyscale', async () => {
    const { labels, mask } = await labelled(['red_hair', 'smile', 'white_background'], { ...OFF, ops: { greyscale: { probability: 1 } } }, [0]);
    for (const t of ['red_hair', 'blue_eyes', 'dark_skin', 'white_background']) expect(mask![at(t)], t).toBe(0);
    expect(labels[at('red_hair')]).toBe(1);
    for (const t of ['monochrome', 'greyscale']) {
      expect(labels[at(t)], t).toBe(1);
      expect(mask![at(t)], t).toBe(1);
    }
    expect(mask![at('smile')]).toBe(1);
    expect(labels[at('smile')]).toBe(1);
  });

  test('tint makes colour tags and greyscale unknown and adds monochrome', async () => {
    const { labels, mask } = await labelled(['red_hair', 'smile', 'greyscale'], { ...OFF, ops: { tint: { probability: 1 } } }, [0]);
    for (const t of ['red_hair', 'blue_eyes', 'dark_skin', 'white_background', 'greyscale']) expect(mask![at(t)], t).toBe(0);
    expect(labels[at('greyscale')]).toBe(1); // forgotten, not denied
    expect(labels[at('monochrome')]).toBe(1);
    expect(mask![at('monochrome')]).toBe(1);
    expect(mask![at('smile')]).toBe(1);
  });

  test('line art makes colour and background tags unknown, adds monochrome, greyscale and lineart, and hides what outlines cannot show', async () => {
    const ops = { lineart: { probability: 1 } };
    const { labels, mask } = await labelled(['red_hair', 'smile', 'gradient_background', 'blush', 'glasses'], { ...OFF, ops }, [0]);
    for (const t of ['red_hair', 'dark_skin', 'white_background', 'gradient_background', 'blush']) expect(mask![at(t)], t).toBe(0);
    expect(labels[at('gradient_background')]).toBe(1); // forgotten, not denied
    for (const t of ['monochrome', 'greyscale', 'lineart']) {
      expect(labels[at(t)], t).toBe(1);
      expect(mask![at(t)], t).toBe(1);
    }
    // a clear pair of glasses keeps its outline, so only a sample with sunglasses loses both tags; blush only where drawn
    for (const t of ['smile', 'glasses', 'sunglasses', 'solo']) expect(mask![at(t)], t).toBe(1);
    const shaded = await labelled(['sunglasses', 'smile'], { ...OFF, ops }, [0]);
    for (const t of ['sunglasses', 'glasses']) expect(shaded.mask![at(t)], t).toBe(0);
    expect(shaded.mask![at('blush')]).toBe(1);
  });

  test('screentone makes colour and background tags unknown, adds monochrome and greyscale, keeps lineart and eyewear, and hides blush and freckles where drawn', async () => {
    const ops = { screentone: { probability: 1 } };
    const { labels, mask } = await labelled(['red_hair', 'smile', 'gradient_background', 'glasses'], { ...OFF, ops }, [0]);
    for (const t of ['red_hair', 'dark_skin', 'white_background', 'gradient_background']) expect(mask![at(t)], t).toBe(0);
    expect(labels[at('gradient_background')]).toBe(1); // forgotten, not denied
    for (const t of ['monochrome', 'greyscale']) {
      expect(labels[at(t)], t).toBe(1);
      expect(mask![at(t)], t).toBe(1);
    }
    // dots are shading, which line art has none of: a screened colour picture is known not to be line art
    expect(labels[at('lineart')]).toBe(0);
    for (const t of ['lineart', 'smile', 'glasses', 'sunglasses', 'blush', 'freckles', 'solo']) expect(mask![at(t)], t).toBe(1);
    const blushing = await labelled(['blush', 'freckles', 'sunglasses'], { ...OFF, ops }, [0]);
    for (const t of ['blush', 'freckles']) expect(blushing.mask![at(t)], t).toBe(0);
    for (const t of ['sunglasses', 'glasses']) expect(blushing.mask![at(t)], t).toBe(1);
  });

  test('no greyscale, no change', async () => {
    const { labels, mask } = await labelled(['red_hair'], { ...OFF, ops: { greyscale: { probability: 0.5 } } }, [0.9]);
    expect(mask).toBeUndefined();
    expect(labels[at('monochrome')]).toBe(0);
  });

  test('brightness, contrast, blur, downscale, noise and JPEG change no label', async () => {
    const ops = Object.fromEntries(['brightness', 'contrast', 'blur', 'downscale', 'noise', 'jpeg'].map((op) => [op, { probability: 1 }]));
    const { labels, mask, result } = await labelled(['red_hair', 'square', 'white_background'], { ...OFF, ops }, []);
    expect(result.applied.size).toBe(6);
    expect(mask).toBeUndefined();
    expect(Array.from(labels)).toEqual(TAGS.map((t) => (['red_hair', 'square', 'white_background'].includes(t) ? 1 : 0)));
  });

  test('a flip makes sided tags unknown', async () => {
    const { mask } = await labelled(['hand_on_left_hip'], { ...OFF, flip: true }, [0]);
    expect(mask![at('hand_on_left_hip')]).toBe(0);
    expect(mask!.reduce((a, b) => a + b, 0)).toBe(TAGS.length - 1);
  });
});

test.each([
  ['red_hair', ['colour']], ['blonde_hair', ['colour']], ['dark_skin', ['colour']], ['multicolored_hair', ['colour']],
  ['white_background', ['background', 'colour', 'global']], ['gradient_background', ['background', 'global']], ['monochrome', ['global']], ['greyscale', ['global']],
  ['rating:general', ['global']], ['hand_on_left_hip', ['sided']], ['long_hair', []], ['sunglasses', []], ['blush', []],
  ['solo', ['count']], ['2others', ['count']], ['1girl', ['count']], ['6+girls', ['count']], ['multiple_boys', ['count']], ['1other', ['count']],
  ['solo_focus', []], ['girl_on_top', []],
])('%s is %j', (tag, props) => {
  expect([...tagProperties(tag)].sort()).toEqual([...props].sort());
});
