/** The wider generator: each setting's effect on pixels, tags, masks and the recorded choices. */
import { describe, expect, test } from 'vitest';
import { createCharacterAvatar, characterParts, type CharacterRecipe } from '../../src/dataset/synthetic/character.ts';
import { classifyHair, classifySkin } from '../../src/dataset/synthetic/colour-bands.ts';
import { applyLook, type Look } from '../../src/dataset/synthetic/look.ts';
import { HAIR_COLOURS } from '../../src/dataset/synthetic/palette.ts';
import { produceImage } from '../../src/dataset/synthetic/produce.ts';
import { imageRng, sampleScene, type SceneRecipe } from '../../src/dataset/synthetic/recipe.ts';
import { renderScene } from '../../src/dataset/synthetic/render.ts';
import { PRESETS, presetSettings } from '../../src/dataset/synthetic/settings.ts';
import { COLOUR_TAGS } from '../../src/dataset/synthetic/tags.ts';
import { adventurer as baseAdventurer, micah as micahCharacter } from './_characters.ts';

const S = 96;

// blue hair on dark skin: both colour tags drawn
const adventurer = (options: Record<string, unknown> = {}, place: Partial<CharacterRecipe> = {}) => baseAdventurer({ hairColor: ['2f63d6'], skinColor: ['8d5524'], ...options }, place);

const scene = (characters: CharacterRecipe[], extra: Partial<SceneRecipe> = {}): SceneRecipe => ({ background: { kind: 'white' }, characters, ...extra });
const look = (rendering: Look['rendering'], corruptions: Look['corruptions'] = {}, ink?: string): Look => ({ rendering, corruptions, seed: 7, ...(ink && { ink }) });

describe('renderings: colour tags follow what is drawn', () => {
  test('greyscale: grey pixels, monochrome and greyscale tagged, every colour tag unknown instead of positive', async () => {
    const colour = await renderScene(scene([adventurer()]), { size: S });
    expect(colour.tags).toEqual(expect.arrayContaining(['blue_hair', 'dark_skin']));
    const r = await renderScene(scene([adventurer()], { look: look('greyscale') }), { size: S });
    for (let i = 0; i < r.rgb.length; i += 3) expect(r.rgb[i] === r.rgb[i + 1] && r.rgb[i] === r.rgb[i + 2]).toBe(true);
    expect(r.tags).toEqual(expect.arrayContaining(['monochrome', 'greyscale', 'short_hair', 'smile', 'solo']));
    expect(r.tags.filter((t) => COLOUR_TAGS.includes(t))).toEqual([]);
    expect([...r.masks.keys()].filter((t) => COLOUR_TAGS.includes(t))).toEqual([]);
    expect(r.unknownTags).toEqual(expect.arrayContaining(['blue_hair', 'red_hair', 'dark_skin']));
    expect(r.masks.get('monochrome')!.pixels).toBe(S * S);
  });

  test('monochrome in one hue is not greyscale; line art is lineart, greyscale and monochrome, and blush (colour alone) is unknown', async () => {
    const tinted = await renderScene(scene([adventurer()], { look: look('monochrome', {}, '203a6e') }), { size: S });
    expect(tinted.tags).toContain('monochrome');
    expect(tinted.tags).not.toContain('greyscale');
    const lines = await renderScene(scene([adventurer({ featuresProbability: 100 })], { look: look('lineart') }), { size: S });
    expect(lines.tags).toEqual(expect.arrayContaining(['lineart', 'monochrome', 'greyscale', 'white_background']));
    expect(lines.tags).not.toContain('blush');
    expect(lines.unknownTags).toContain('blush');
    const colour = await renderScene(scene([adventurer({ featuresProbability: 100 })]), { size: S });
    expect(colour.tags).toContain('blush');
    // mostly white paper with dark lines
    let white = 0;
    for (let i = 0; i < lines.rgb.length; i += 3) if (lines.rgb[i]! > 240) white++;
    expect(white / (S * S)).toBeGreaterThan(0.6);
  });

  test('line art drops the dark lenses: sunglasses leave glasses and sunglasses both unknown, real glasses stay tagged', async () => {
    const shades = adventurer({ glasses: ['variant01'], glassesProbability: 100 }, { size: 0.5, x: 0.28 });
    const colour = await renderScene(scene([shades]), { size: S });
    expect(colour.tags).toContain('sunglasses');
    expect(colour.tags).not.toContain('glasses');
    const lines = await renderScene(scene([shades], { look: look('lineart') }), { size: S });
    expect(lines.tags).not.toContain('sunglasses');
    expect(lines.tags).not.toContain('glasses');
    expect(lines.unknownTags).toEqual(expect.arrayContaining(['sunglasses', 'glasses']));
    expect(lines.masks.has('sunglasses')).toBe(false);
    // beside a character in glasses, glasses are seen: positive, never unknown
    const glasses = adventurer({ glasses: ['variant02'], glassesProbability: 100 }, { size: 0.5, x: 0.72 });
    const both = await renderScene(scene([shades, glasses], { look: look('lineart') }), { size: S });
    expect(both.tags).toContain('glasses');
    expect(both.unknownTags).toContain('sunglasses');
    expect(both.unknownTags).not.toContain('glasses');
  });

  test('corruptions change pixels, not tags or masks; the same look gives the same bytes', async () => {
    const plain = await renderScene(scene([adventurer({ glassesProbability: 100 })]), { size: S });
    const corrupt = look('colour', { blur: 1.5, noise: 10, jpeg: 20, scan: 0.8, downscale: 0.5 });
    const r = await renderScene(scene([adventurer({ glassesProbability: 100 })], { look: corrupt }), { size: S });
    expect(r.tags).toEqual(plain.tags);
    expect(r.masks.get('glasses')!.data).toEqual(plain.masks.get('glasses')!.data);
    let diff = 0;
    for (let i = 0; i < r.rgb.length; i++) diff += Math.abs(r.rgb[i]! - plain.rgb[i]!);
    expect(diff / r.rgb.length).toBeGreaterThan(5);
    expect(await applyLook(plain.rgb, S, corrupt)).toEqual(await applyLook(plain.rgb, S, corrupt));
  });
});

describe('layout: crops and counts', () => {
  test('a part cut off by the frame is not tagged and has no mask; the part still in frame is', async () => {
    const inside = await renderScene(scene([adventurer({ earringsProbability: 100, glassesProbability: 100 }, { size: 0.9 })], { crop: true }), { size: S });
    expect(inside.tags).toEqual(expect.arrayContaining(['earrings', 'glasses']));
    // the right half of the avatar (its earring) falls outside the frame
    const cut = await renderScene(scene([adventurer({ earringsProbability: 100, glassesProbability: 100 }, { size: 0.9, x: 1.02 })], { crop: true }), { size: S });
    expect(cut.tags).not.toContain('earrings');
    expect(cut.masks.has('earrings')).toBe(false);
    expect(cut.characters[0]!.inFrame).toBeLessThan(0.6);
    expect(cut.parts.find((p) => p.name === 'earrings')?.kept ?? false).toBe(false);
    expect(cut.tags).toContain('solo');
  });

  test('more than three characters take Danbooru\'s 4others … 6+others', async () => {
    const row = (n: number) => Array.from({ length: n }, (_, i) => adventurer({}, { size: 0.3, x: 0.12 + (i % 4) * 0.25, y: i < 4 ? 0.25 : 0.75 }));
    expect((await renderScene(scene(row(4)), { size: S })).tags).toContain('4others');
    expect((await renderScene(scene(row(7)), { size: S })).tags).toContain('6+others');
  });
});

describe('wide colours', () => {
  test('every palette shade keeps its tag; colours between two bands are unknown to both', () => {
    for (const [tag, shades] of Object.entries(HAIR_COLOURS)) for (const hex of shades) expect(classifyHair(hex), hex).toEqual({ tag });
    const between = classifyHair('e6a01e'); // between orange and blonde
    expect('unknown' in between ? between.unknown.sort() : between).toEqual(['blonde_hair', 'orange_hair']);
    expect(classifySkin('8d5524')).toEqual({ tag: 'dark_skin' });
    expect(classifySkin('a26a3d')).toEqual({ unknown: ['dark_skin'] }); // lightness 0.44
  });

  test('an ambiguous hair colour is drawn, tagged with no colour and recorded unknown', async () => {
    const r = await renderScene(scene([adventurer({ hairColor: ['e6a01e'], skinColor: ['f2d3b1'] })]), { size: S });
    expect(r.tags).toContain('short_hair');
    expect(r.tags.filter((t) => t.endsWith('_hair') && t !== 'short_hair')).toEqual([]);
    expect(r.unknownTags).toEqual(expect.arrayContaining(['orange_hair', 'blonde_hair']));
  });

  test('with `avoid`, wide colours are always told; with `unknown`, some are not', () => {
    const told = (ambiguous: 'avoid' | 'unknown') => {
      const settings = { ...presetSettings('wide'), ambiguous };
      return Array.from({ length: 40 }, (_, i) => sampleScene(imageRng(3, i), settings)).flatMap((s) => s.characters).map((c) => 'tag' in classifyHair(String((c.options.hairColor as string[])[0])));
    };
    expect(told('avoid').every(Boolean)).toBe(true);
    expect(told('unknown').some((t) => !t)).toBe(true);
  });
});

describe('micah (its tables are checked in styles.test.ts)', () => {
  test('tags match the components drawn, each with a non-empty mask', async () => {
    const drawn = micahCharacter({ glassesProbability: 100, earringsProbability: 100, facialHairProbability: 100, baseColor: ['5e3a1e'] });
    const r = await renderScene(scene([drawn]), { size: S });
    expect(r.tags).toEqual(expect.arrayContaining(['solo', 'long_hair', 'blue_hair', 'smile', 'glasses', 'earrings', 'beard', 'dark_skin']));
    for (const t of r.tags) expect(r.masks.get(t)!.pixels, t).toBeGreaterThan(0);
    // a jaw-length cut and a pucker: no length or mouth tag, the colour still shows
    const bare = await renderScene(scene([micahCharacter({ hair: ['pixie'], mouth: ['pucker'] })]), { size: S });
    expect(bare.tags).toEqual(['solo', 'blue_hair', 'white_background', 'simple_background']);
    // scruff and a stud are drawn but carry no tag
    expect(characterParts('micah', createCharacterAvatar('micah', micahCharacter({ facialHair: ['scruff'], facialHairProbability: 100, earrings: ['stud'], earringsProbability: 100 }).options).extra).map((p) => p.name)).toEqual(['hair', 'mouth']);
  });
});

describe('presets', () => {
  test('the default preset draws what generator version 2 drew (md5s and tags from before the wider generator)', async () => {
    const made = await Promise.all([0, 1, 2].map((index) => produceImage({ seed: 1, index, size: 96, masks: false, settings: presetSettings('default') })));
    expect(made.map((m) => [m.md5, m.tags.join(','), m.unknownTags])).toEqual([
      ['274c501400248c9d95f4fd57e8407e44', 'solo,short_hair,blonde_hair,dark_skin,smile,open_mouth,glasses,simple_background', []],
      ['9f8432ccdcf854c2425b1a798ddf474f', '2others,short_hair,blue_hair,grey_hair,dark_skin,frown,beard,gradient_background', []],
      ['a7d55e7fa8dd9b5e5f36ac9f5a3abaa8', 'solo,short_hair,blonde_hair,frown,freckles,gradient_background', []],
    ]);
  });

  const scenes = (name: string, n = 12) => Array.from({ length: n }, (_, i) => sampleScene(imageRng(9, i), presetSettings(name)));

  test('each shifted preset changes its habit in every image', () => {
    expect(scenes('shifted-style').every((s) => s.characters.every((c) => c.style === 'micah'))).toBe(true);
    expect(scenes('shifted-monochrome').every((s) => s.look && s.look.rendering !== 'colour')).toBe(true);
    expect(scenes('shifted-one-face').every((s) => s.characters.length === 1 && s.characters[0]!.size >= 0.92)).toBe(true);
    expect(scenes('shifted-tiny').every((s) => s.characters.every((c) => c.size <= 0.22))).toBe(true);
    expect(scenes('shifted-jpeg').every((s) => s.look!.corruptions.jpeg! <= 15)).toBe(true);
    expect(scenes('shifted-downscale').every((s) => s.look!.corruptions.downscale === 0.5)).toBe(true);
    expect(scenes('default').every((s) => s.look === undefined && s.crop === undefined)).toBe(true);
  });

  test('a shifted preset keeps the default scenes, changing only its habit', () => {
    const plain = scenes('default'), jpeg = scenes('shifted-jpeg');
    expect(jpeg.map((s) => ({ ...s, look: undefined }))).toEqual(plain.map((s) => ({ ...s, look: undefined })));
  });

  test('wide-scaled draws one scale per image: crowds of tiny faces occur, sizes stay within the spread', () => {
    const sizesOf = (name: string) => Array.from({ length: 400 }, (_, i) => sampleScene(imageRng(5, i), presetSettings(name)).characters.map((c) => c.size));
    const scaled = sizesOf('wide-scaled');
    for (const sizes of scaled) {
      expect(Math.max(...sizes) / Math.min(...sizes)).toBeLessThanOrEqual(1.5 ** 2 + 1e-9);
      expect(Math.min(...sizes)).toBeGreaterThanOrEqual(0.12);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(1);
    }
    // crowds of five or six whose largest face is tiny: common with one scale, almost absent with independent sizes
    const tinyCrowds = (all: number[][]) => {
      const crowds = all.filter((sizes) => sizes.length >= 5);
      return crowds.filter((sizes) => Math.max(...sizes) <= 0.22).length / crowds.length;
    };
    expect(tinyCrowds(scaled)).toBeGreaterThan(0.08);
    expect(tinyCrowds(sizesOf('wide'))).toBeLessThan(0.02);
    // the spread is the only difference: the rest of the wide preset is the same
    expect({ ...presetSettings('wide-scaled'), faceSizeSpread: null }).toEqual(presetSettings('wide'));
  });

  test('an unknown preset names the known ones', () => {
    expect(() => presetSettings('shifted-nothing')).toThrow(`Unknown preset "shifted-nothing". Known: ${Object.keys(PRESETS).join(', ')}`);
  });
});
