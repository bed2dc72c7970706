import { describe, expect, test } from 'vitest';
import { backgroundSvg, type BackgroundRecipe } from '../../src/dataset/synthetic/background.ts';
import { createCharacterAvatar, placedSvg, settleOptions, type CharacterRecipe } from '../../src/dataset/synthetic/character.ts';
import { renderSvg } from '../../src/image/svg.ts';
import { renderScene, type RenderedScene, type TagMask } from '../../src/dataset/synthetic/render.ts';
import { imageRng, sampleScene, type SceneRecipe } from '../../src/dataset/synthetic/recipe.ts';
import { adventurer, lorelei } from './_characters.ts';

const S = 128;

const white: BackgroundRecipe = { kind: 'white' };
const scene = (characters: CharacterRecipe[], background: BackgroundRecipe = white): SceneRecipe => ({ background, characters });

function centroid(m: TagMask): [number, number] {
  let sx = 0, sy = 0;
  for (let i = 0; i < m.data.length; i++) {
    if (!m.data[i]) continue;
    sx += i % S;
    sy += Math.floor(i / S);
  }
  return [sx / m.pixels, sy / m.pixels];
}

function mask(r: RenderedScene, tag: string): TagMask {
  const m = r.masks.get(tag as never);
  if (!m) throw new Error(`no ${tag} mask; tags: ${r.tags.join(' ')}`);
  return m;
}

describe('renderScene: tags follow what is drawn and seen', () => {
  test('forced glasses: tagged, with a mask of dark frame pixels above the mouth', async () => {
    const r = await renderScene(scene([adventurer({ glassesProbability: 100 })]), { size: S });
    expect(r.tags).toEqual(['solo', 'short_hair', 'brown_hair', 'smile', 'glasses', 'white_background', 'simple_background']);
    const g = mask(r, 'glasses');
    expect(g.pixels).toBeGreaterThan(100);
    const [gx, gy] = centroid(g), [, my] = centroid(mask(r, 'smile'));
    expect(gy).toBeLessThan(my);
    expect(gx).toBeGreaterThan(0.25 * S);
    expect(gx).toBeLessThan(0.75 * S);
    // the pixels under the glasses mask are mostly the black frames and the dark outlines of the eyes
    let dark = 0;
    for (let i = 0; i < g.data.length; i++) if (g.data[i] && r.rgb[3 * i]! + r.rgb[3 * i + 1]! + r.rgb[3 * i + 2]! < 3 * 90) dark++;
    expect(dark / g.pixels).toBeGreaterThan(0.5);
    // the bounding box is the mask's
    const [x0, y0, x1, y1] = g.box;
    expect(g.data[y0 * S + Math.round(gx)] || g.data.subarray(y0 * S + x0, y0 * S + x1).some(Boolean)).toBeTruthy();
    expect(g.data.subarray((y1 - 1) * S + x0, (y1 - 1) * S + x1).some(Boolean)).toBe(true);
    expect(g.data.subarray(y1 * S, (y1 + 1) * S).some(Boolean)).toBe(false);
  });

  test('mirroring and rotating move the earrings with the character', async () => {
    const side = async (place: Partial<CharacterRecipe>) => centroid(mask(await renderScene(scene([adventurer({ earringsProbability: 100 }, { size: 0.9, ...place })]), { size: S }), 'earrings'));
    const [plainX] = await side({});
    const [flippedX] = await side({ flip: true });
    const [, turnedY] = await side({ rotation: 90 });
    expect(plainX).toBeGreaterThan(0.6 * S);
    expect(flippedX).toBeLessThan(0.4 * S);
    expect(turnedY).toBeGreaterThan(0.6 * S);
  });

  test('a part hidden behind another character has no tag and no mask; the hidden character is not counted', async () => {
    const behind = adventurer({ glassesProbability: 100, hairColor: ['2f9e44'] });
    const front = adventurer();
    const r = await renderScene(scene([behind, front]), { size: S });
    expect(r.tags).not.toContain('glasses');
    expect(r.tags).not.toContain('green_hair');
    expect(r.masks.has('glasses')).toBe(false);
    expect(r.parts.filter((p) => p.character === 0).every((p) => !p.kept)).toBe(true);
    expect(r.visibleCharacters).toBe(1);
    expect(r.tags).toContain('solo');
  });

  test('sunglasses hide closed eyes: closed_eyes is dropped, sunglasses kept', async () => {
    const r = await renderScene(scene([adventurer({ eyes: ['variant19'], glasses: ['variant01'], glassesProbability: 100 })]), { size: S });
    expect(r.tags).toContain('sunglasses');
    expect(r.tags).not.toContain('closed_eyes');
    const eyes = r.parts.find((p) => p.name === 'eyes')!;
    expect(eyes.kept).toBe(false);
    const bare = await renderScene(scene([adventurer({ eyes: ['variant19'] })]), { size: S });
    expect(bare.tags).toContain('closed_eyes');
  });

  test('lorelei\'s beard is drawn in the hair colour, yet the hair mask leaves it out', async () => {
    const r = await renderScene(scene([lorelei({ beardProbability: 100 })]), { size: S });
    expect(r.tags).toEqual(expect.arrayContaining(['long_hair', 'blue_hair', 'beard']));
    const hair = mask(r, 'blue_hair'), beard = mask(r, 'beard');
    let overlap = 0;
    for (let i = 0; i < hair.data.length; i++) if (hair.data[i] && beard.data[i]) overlap++;
    expect(overlap).toBe(0);
    expect(beard.pixels).toBeGreaterThan(300);
    expect(mask(r, 'long_hair').data).toEqual(hair.data);
  });

  test('the same recipe renders the same pixels', async () => {
    const recipe = scene([lorelei({ glassesProbability: 100 }, { x: 0.3, size: 0.6, rotation: 12 }), adventurer({ featuresProbability: 100 }, { x: 0.7, size: 0.6, rotation: -20, flip: true })]);
    const [a, b] = await Promise.all([renderScene(recipe, { size: S }), renderScene(recipe, { size: S })]);
    expect(Buffer.from(a.rgb).equals(Buffer.from(b.rgb))).toBe(true);
    expect(a.tags).toEqual(b.tags);
  });

  test('rendering a small part\'s removal only in its footprint changes nothing', async () => {
    for (let i = 0; i < 12; i++) {
      const recipe = sampleScene(imageRng(77, i));
      const [cropped, whole] = await Promise.all([renderScene(recipe, { size: S }), renderScene(recipe, { size: S, footprints: false })]);
      expect(cropped.parts, `scene ${i}`).toEqual(whole.parts);
      expect(cropped.tags).toEqual(whole.tags);
      for (const [tag, m] of whole.masks) expect(Buffer.from(cropped.masks.get(tag)!.data).equals(Buffer.from(m.data)), `scene ${i} ${tag}`).toBe(true);
    }
  });

  test('bad options name themselves', async () => {
    await expect(renderScene(scene([adventurer()]), { size: 8 })).rejects.toThrow('Expected integer between 16 and 4096 for size but received 8 of type number');
    await expect(renderScene(scene(Array.from({ length: 9 }, () => adventurer())), { size: S })).rejects.toThrow(/at most 8 characters/);
  });
});

describe('renderScene against an oracle: the whole scene as one SVG', () => {
  const background: BackgroundRecipe = { kind: 'abstract', colour: '88aacc', shapes: [{ kind: 'circle', x: 0.5, y: 0.6, r: 0.3, colour: 'cc3366', opacity: 0.9 }, { kind: 'line', x1: 0, y1: 0, x2: 1, y2: 1, width: 0.03, colour: '113355', opacity: 1 }] };
  const characters = [
    lorelei({ glassesProbability: 100, beardProbability: 100, hairColor: ['e8731c'] }, { x: 0.36, y: 0.45, size: 0.7, rotation: 10 }),
    adventurer({ featuresProbability: 100, glassesProbability: 100, glasses: ['variant01'] }, { x: 0.66, y: 0.58, size: 0.7, rotation: -15, flip: true }),
  ];

  async function oneSvg(chars: CharacterRecipe[]): Promise<Uint8Array> {
    const full = { x0: 0, y0: 0, x1: S, y1: S };
    const body = backgroundSvg(background, S)! + chars.map((c) => placedSvg(c, createCharacterAvatar(c.style, c.options).svg, S, full)).join('');
    return (await renderSvg(`<svg xmlns="http://www.w3.org/2000/svg" width="${S}" height="${S}">${body}</svg>`, S, S)).data;
  }

  function diffMask(a: Uint8Array, b: Uint8Array): Uint8Array {
    const m = new Uint8Array(S * S);
    for (let i = 0; i < m.length; i++) {
      m[i] = Math.max(Math.abs(a[4 * i]! - b[4 * i]!), Math.abs(a[4 * i + 1]! - b[4 * i + 1]!), Math.abs(a[4 * i + 2]! - b[4 * i + 2]!)) > 16 ? 1 : 0;
    }
    return m;
  }

  const iou = (a: Uint8Array, b: Uint8Array) => {
    let i = 0, u = 0;
    for (let k = 0; k < a.length; k++) {
      if (a[k] && b[k]) i++;
      if (a[k] || b[k]) u++;
    }
    return i / u;
  };

  test('pixels and every part mask match', async () => {
    const r = await renderScene(scene(characters, background), { size: S });
    const oracle = await oneSvg(characters);
    let sum = 0, max = 0;
    for (let i = 0; i < S * S; i++) {
      for (let k = 0; k < 3; k++) {
        const d = Math.abs(r.rgb[3 * i + k]! - oracle[4 * i + k]!);
        sum += d;
        max = Math.max(max, d);
      }
    }
    // layers composited here vs one rasterisation: only 8-bit rounding of edge pixels differs
    expect(sum / (S * S * 3)).toBeLessThan(0.05);
    expect(max).toBeLessThanOrEqual(3);

    const withouts = { glasses: { c: 0, patch: { glassesProbability: 0 } }, beard: { c: 0, patch: { beardProbability: 0 } }, blush: { c: 1, patch: { featuresProbability: 0 } }, sunglasses: { c: 1, patch: { glassesProbability: 0 } } };
    for (const [tag, { c, patch }] of Object.entries(withouts)) {
      const changed = characters.map((ch, k) => (k === c ? { ...ch, options: { ...settleOptions(ch.style, ch.options, createCharacterAvatar(ch.style, ch.options).extra), ...patch } } : ch));
      const expected = diffMask(oracle, await oneSvg(changed));
      const got = mask(r, tag).data.map((v) => (v ? 1 : 0));
      expect(got.reduce((a, b) => a + b, 0), tag).toBeGreaterThan(50);
      expect(iou(got, expected), tag).toBeGreaterThan(0.98);
    }
  });
});
