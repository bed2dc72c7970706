/**
 * A scene recipe: every random choice of one image, made up front from one Rng, as plain JSON. Rendering
 * a recipe is deterministic, so the recipe stored beside a post re-creates its image exactly.
 */
import { Rng } from '../../models/random.ts';
import { hslHex, sampleBackground, type BackgroundRecipe } from './background.ts';
import { STYLES, type AvatarOptions, type CharacterRecipe, type StyleName } from './character.ts';
import { classifyHair, classifySkin, sampleHairColour, sampleSkinColour } from './colour-bands.ts';
import { sampleLook, type Look } from './look.ts';
import { FLOWER_COLOURS, HAIR_COLOURS, HAIR_COLOUR_TAGS, LORELEI_INK, SKIN_COLOURS } from './palette.ts';
import { DEFAULT_SETTINGS, type GeneratorSettings } from './settings.ts';
import { MICAH_EARRINGS, MICAH_FACIAL_HAIR, MICAH_GLASSES, MICAH_HAIR, MICAH_MOUTH, MICAH_OPEN_EYES } from './styles-micah.ts';
import {
  ADVENTURER_EARRINGS, ADVENTURER_EYES, ADVENTURER_FEATURES, ADVENTURER_GLASSES, ADVENTURER_HAIR, ADVENTURER_MOUTH,
  HAIR_HIDING_AN_EYE, LORELEI_EARRINGS, LORELEI_EYES, LORELEI_GLASSES, LORELEI_HAIR, LORELEI_MOUTH, variantsWith,
  type EyeState, type HairLength, type MouthTag,
} from './styles.ts';

export interface SceneRecipe {
  background: BackgroundRecipe;
  /** Back to front. */
  characters: CharacterRecipe[];
  /** Rendering and corruptions (look.ts); absent: plain colour. */
  look?: Look;
  /** Characters may stand partly outside the frame: visibility then counts what the frame cuts off. */
  crop?: boolean;
}

/** How often things are drawn. Each is a probability per character unless it says otherwise. */
export const FREQUENCIES = {
  /** Probability of 1, 2 and 3 characters per image. */
  characters: [0.5, 0.3, 0.2],
  longHair: 0.5,
  darkSkin: 0.3,
  closedEyes: 0.15,
  oneEyeClosed: 0.15,
  glasses: 0.2,
  sunglasses: 0.1,
  /** Earrings and freckles are a few pixels: only drawn on characters at least this big (fraction of the image). */
  earrings: 0.3,
  smallPartsMinSize: 0.5,
  // lorelei
  beard: 0.15,
  freckles: 0.2,
  hairFlower: 0.2,
  // adventurer: one feature at most
  blush: 0.2,
  adventurerFreckles: 0.15,
  mustache: 0.15,
} as const;

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(items.length)]!;
const chance = (rng: Rng, p: number): boolean => rng.next() < p;

const MOUTH_CLASSES: readonly (readonly MouthTag[])[] = [['smile'], ['smile', 'open_mouth'], ['open_mouth'], ['frown']];
const sameTags = (a: readonly string[] | null, b: readonly string[]): boolean => a !== null && a.length === b.length && a.every((t, i) => t === b[i]);

// Candidate variants per label, computed once.
const TABLES = {
  lorelei: { hair: LORELEI_HAIR, eyes: LORELEI_EYES, mouth: LORELEI_MOUTH, glasses: LORELEI_GLASSES, earrings: LORELEI_EARRINGS },
  adventurer: { hair: ADVENTURER_HAIR, eyes: ADVENTURER_EYES, mouth: ADVENTURER_MOUTH, glasses: ADVENTURER_GLASSES, earrings: ADVENTURER_EARRINGS },
} as const;

interface Candidates {
  hair: Record<HairLength, string[]>;
  eyes: Record<EyeState, string[]>;
  mouth: string[][];
  glasses: string[];
  sunglasses: string[];
  earrings: string[];
  free: Record<string, string[]>;
  hiding: ReadonlySet<string>;
}

function candidates(style: 'lorelei' | 'adventurer'): Candidates {
  const t = TABLES[style] as unknown as {
    hair: Record<string, HairLength | null>; eyes: Record<string, EyeState | null>; mouth: Record<string, readonly MouthTag[] | null>;
    glasses: Record<string, string>; earrings: Record<string, boolean>;
  };
  const schema = STYLES[style].schema.properties as Record<string, { default?: unknown }>;
  const all = (k: string) => [...(schema[k]?.default as string[])].sort();
  const free: Record<string, string[]> = style === 'lorelei' ? { head: all('head'), eyebrows: all('eyebrows'), nose: all('nose') } : { eyebrows: all('eyebrows') };
  return {
    hair: { long_hair: variantsWith(t.hair, (l) => l === 'long_hair'), short_hair: variantsWith(t.hair, (l) => l === 'short_hair') },
    eyes: { open: variantsWith(t.eyes, (e) => e === 'open'), closed_eyes: variantsWith(t.eyes, (e) => e === 'closed_eyes'), one_eye_closed: variantsWith(t.eyes, (e) => e === 'one_eye_closed') },
    mouth: MOUTH_CLASSES.map((cls) => variantsWith(t.mouth, (m) => sameTags(m, cls))),
    glasses: variantsWith(t.glasses, (g) => g === 'glasses'),
    sunglasses: variantsWith(t.glasses, (g) => g === 'sunglasses'),
    earrings: variantsWith(t.earrings, (e) => e),
    free,
    hiding: new Set<string>(HAIR_HIDING_AN_EYE[style]),
  };
}

const CANDIDATES = { lorelei: candidates('lorelei'), adventurer: candidates('adventurer') } as const;

const MICAH = {
  hair: { long_hair: variantsWith(MICAH_HAIR, (l) => l === 'long_hair'), short_hair: variantsWith(MICAH_HAIR, (l) => l === 'short_hair') },
  mouth: MOUTH_CLASSES.map((cls) => variantsWith(MICAH_MOUTH, (m) => sameTags(m, cls))).filter((vs) => vs.length > 0),
  glasses: variantsWith(MICAH_GLASSES, () => true),
  earrings: variantsWith(MICAH_EARRINGS, (e) => e),
  beard: variantsWith(MICAH_FACIAL_HAIR, (b) => b === 'beard'),
  free: Object.fromEntries(['eyebrows', 'nose', 'ears', 'shirt'].map((k) => [k, [...((STYLES.micah.schema.properties as Record<string, { default?: unknown }>)[k]!.default as string[])].sort()])),
};

/** Frame colours of micah's glasses: dark, so they read as glasses on any skin. */
const MICAH_FRAMES = ['000000', '1b1f2a', '3d2b1f'] as const;

function sampleMicahOptions(rng: Rng, size: number): AvatarOptions {
  const f = FREQUENCIES;
  const hair = pick(rng, MICAH.hair[chance(rng, f.longHair) ? 'long_hair' : 'short_hair']);
  const hairColor = pick(rng, HAIR_COLOURS[pick(rng, HAIR_COLOUR_TAGS)]);
  const skin = pick(rng, SKIN_COLOURS[chance(rng, f.darkSkin) ? 'dark' : 'light']);
  const glasses = chance(rng, f.glasses + f.sunglasses) ? pick(rng, MICAH.glasses) : undefined;
  const earrings = size >= f.smallPartsMinSize && chance(rng, f.earrings) ? pick(rng, MICAH.earrings) : undefined;
  const free = Object.fromEntries(Object.entries(MICAH.free).map(([k, vs]) => [k, [pick(rng, vs)]]));
  return {
    base: ['standard'], hair: [hair], hairColor: [hairColor], hairProbability: 100, baseColor: [skin], eyes: [pick(rng, MICAH_OPEN_EYES)],
    mouth: [pick(rng, pick(rng, MICAH.mouth))], ...free, shirtColor: [hslHex(rng.uniform(0, 360), 0.6, 0.6)],
    glasses: [glasses ?? MICAH.glasses[0]!], glassesProbability: glasses ? 100 : 0, glassesColor: [pick(rng, MICAH_FRAMES)],
    earrings: [earrings ?? MICAH.earrings[0]!], earringsProbability: earrings ? 100 : 0, earringColor: ['f4d150'],
    facialHair: [MICAH.beard[0]!], facialHairProbability: chance(rng, f.beard) ? 100 : 0, facialHairColor: [hairColor], eyeShadowColor: ['d2eff3'],
    eyebrowsColor: ['000000'], eyesColor: ['000000'], mouthColor: ['000000'],
  };
}

function sampleOptions(rng: Rng, style: StyleName, size: number): AvatarOptions {
  if (style === 'micah') return sampleMicahOptions(rng, size);
  const c = CANDIDATES[style], f = FREQUENCIES;
  const hair = pick(rng, c.hair[chance(rng, f.longHair) ? 'long_hair' : 'short_hair']);
  const hairColor = pick(rng, HAIR_COLOURS[pick(rng, HAIR_COLOUR_TAGS)]);
  const skinColor = pick(rng, SKIN_COLOURS[chance(rng, f.darkSkin) ? 'dark' : 'light']);
  const u = rng.next();
  const eyeState: EyeState = c.hiding.has(hair) ? 'open' : u < f.closedEyes ? 'closed_eyes' : u < f.closedEyes + f.oneEyeClosed ? 'one_eye_closed' : 'open';
  const eyes = pick(rng, c.eyes[eyeState]);
  const mouth = pick(rng, c.mouth[rng.int(c.mouth.length)]!);
  const g = rng.next();
  const glasses = g < f.glasses ? pick(rng, c.glasses) : g < f.glasses + f.sunglasses ? pick(rng, c.sunglasses) : undefined;
  const earrings = size >= f.smallPartsMinSize && chance(rng, f.earrings) ? pick(rng, c.earrings) : undefined;
  const free = Object.fromEntries(Object.entries(c.free).map(([k, vs]) => [k, [pick(rng, vs)]]));
  const common = {
    hair: [hair], hairColor: [hairColor], skinColor: [skinColor], eyes: [eyes], mouth: [mouth], ...free,
    glasses: [glasses ?? c.glasses[0]!], glassesProbability: glasses ? 100 : 0,
    earrings: [earrings ?? c.earrings[0]!], earringsProbability: earrings ? 100 : 0,
  };
  if (style === 'lorelei') {
    const ink = [LORELEI_INK];
    return {
      ...common,
      beard: [pick(rng, ['variant01', 'variant02'])], beardProbability: chance(rng, f.beard) ? 100 : 0,
      freckles: ['variant01'], frecklesProbability: size >= f.smallPartsMinSize && chance(rng, f.freckles) ? 100 : 0,
      hairAccessories: ['flowers'], hairAccessoriesProbability: chance(rng, f.hairFlower) ? 100 : 0,
      hairAccessoriesColor: [pick(rng, FLOWER_COLOURS)],
      earringsColor: ink, eyebrowsColor: ink, eyesColor: ink, frecklesColor: ink, glassesColor: ink, mouthColor: ink, noseColor: ink,
    };
  }
  const v = rng.next();
  const small = size >= f.smallPartsMinSize;
  const feature = v < f.blush ? 'blush' : v < f.blush + f.mustache ? 'mustache' : small && v < f.blush + f.mustache + f.adventurerFreckles ? 'freckles' : undefined;
  return {
    ...common,
    base: ['default'], hairProbability: 100,
    features: [feature ?? Object.keys(ADVENTURER_FEATURES)[0]!], featuresProbability: feature ? 100 : 0,
  };
}

interface Slot {
  x: number;
  y: number;
  size: number;
}

/** Where characters stand: their faces barely overlap, so the count tag always matches what is seen. */
function layout(rng: Rng, n: number): Slot[] {
  const j = (v: number, d: number) => v + rng.uniform(-d, d);
  if (n === 1) return [{ x: j(0.5, 0.08), y: j(0.5, 0.07), size: rng.uniform(0.78, 1.0) }];
  if (n === 2) {
    const size = () => rng.uniform(0.54, 0.64);
    return [{ x: j(0.27, 0.04), y: j(0.5, 0.13), size: size() }, { x: j(0.73, 0.04), y: j(0.5, 0.13), size: size() }];
  }
  const size = () => rng.uniform(0.42, 0.5);
  if (chance(rng, 0.5)) return [0.18, 0.5, 0.82].map((x) => ({ x: j(x, 0.02), y: j(0.5, 0.14), size: size() }));
  return [{ x: j(0.28, 0.03), y: j(0.3, 0.04), size: size() }, { x: j(0.72, 0.03), y: j(0.3, 0.04), size: size() }, { x: j(0.5, 0.03), y: j(0.72, 0.04), size: size() }];
}

/** Free layout: `n` characters of log-uniform size anywhere (around one scale with a spread); with `crop`, up to 40 % of a face may leave the frame. */
function freeLayout(rng: Rng, s: GeneratorSettings): Slot[] {
  const [lo, hi] = s.characters, n = lo + rng.int(hi - lo + 1);
  const logUniform = (a: number, b: number) => Math.exp(rng.uniform(Math.log(a), Math.log(b)));
  const [small, large] = s.faceSize;
  const around = (scale: number, k: number) => [Math.max(small, scale / k), Math.min(large, scale * k)] as const;
  // NOTE: without a spread no draw is added, so the presets before it keep their scenes
  const band = s.faceSizeSpread === null ? s.faceSize : around(logUniform(small, large), s.faceSizeSpread);
  return Array.from({ length: n }, () => {
    const size = logUniform(band[0], band[1]);
    const reach = s.crop ? size * 0.1 : size / 2;
    const at = () => (reach <= 0.5 ? rng.uniform(reach, 1 - reach) : 0.5 + rng.uniform(-0.05, 0.05));
    return { x: at(), y: at(), size };
  });
}

const SKIN_OPTION: Record<StyleName, string> = { lorelei: 'skinColor', adventurer: 'skinColor', micah: 'baseColor' };

/** Hair and skin over the wide bands of colour-bands.ts; with `avoid`, ambiguous colours are drawn again. */
function wideColours(rng: Rng, style: StyleName, s: GeneratorSettings): AvatarOptions {
  const tag = pick(rng, HAIR_COLOUR_TAGS);
  let hair = sampleHairColour(rng, tag), skin = sampleSkinColour(rng);
  for (let k = 0; s.ambiguous === 'avoid' && k < 50 && !('tag' in classifyHair(hair)); k++) hair = sampleHairColour(rng, tag);
  for (let k = 0; s.ambiguous === 'avoid' && k < 50 && !('tag' in classifySkin(skin)); k++) skin = sampleSkinColour(rng);
  return { hairColor: [hair], [SKIN_OPTION[style]]: [skin], ...(style === 'micah' && { facialHairColor: [hair] }) };
}

const LEGACY_STYLES = DEFAULT_SETTINGS.styles;

export function sampleScene(rng: Rng, settings: GeneratorSettings = DEFAULT_SETTINGS): SceneRecipe {
  let background = sampleBackground(rng);
  let slots: Slot[];
  if (settings.layout === 'legacy') {
    const u = rng.next(), [p1, p2] = FREQUENCIES.characters;
    slots = layout(rng, u < p1 ? 1 : u < p1 + p2 ? 2 : 3);
  } else {
    slots = freeLayout(rng, settings);
  }
  // NOTE: the default pair keeps version 2's coin, so default seeds draw the same scenes
  const legacyStyles = settings.styles.length === 2 && settings.styles.every((st, i) => st === LEGACY_STYLES[i]);
  const characters = rng.shuffle(slots).map((slot): CharacterRecipe => {
    const style: StyleName = legacyStyles ? (chance(rng, 0.5) ? 'lorelei' : 'adventurer') : pick(rng, settings.styles);
    const options = sampleOptions(rng, style, slot.size);
    const recipe = { style, options, ...slot, rotation: rng.uniform(-25, 25), flip: chance(rng, 0.5) };
    if (settings.colours === 'wide') recipe.options = { ...options, ...wideColours(rng, style, settings) };
    return recipe;
  });
  const look = sampleLook(rng, settings);
  // line art draws the characters' outlines on white: the background's own edges would be noise
  if (look?.rendering === 'lineart') background = { kind: 'white' };
  return { background, characters, ...(look && { look }), ...(settings.layout === 'free' && settings.crop && { crop: true }) };
}

/** The Rng of image `index` of a dataset seeded `seed`: independent of count, order and concurrency. */
export function imageRng(seed: number, index: number): Rng {
  const base = new Rng(seed).state;
  const mix = new Rng(Math.imul(index, 0x9e3779b1) ^ 0x5bd1e995).state;
  const state = base.slice(0, 4).map((w, k) => (w ^ mix[k]! ^ (k === 0 ? index >>> 0 : 0)) >>> 0);
  if (!state.some((w) => w !== 0)) state[0] = 1;
  return new Rng(state);
}
