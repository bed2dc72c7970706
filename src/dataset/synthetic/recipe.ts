/**
 * A scene recipe: every random choice of one image, made up front from one Rng, as plain JSON. Rendering
 * a recipe is deterministic, so the recipe stored beside a post re-creates its image exactly.
 */
import { Rng } from '../../models/random.ts';
import { sampleBackground, type BackgroundRecipe } from './background.ts';
import { STYLES, type AvatarOptions, type CharacterRecipe, type StyleName } from './character.ts';
import { FLOWER_COLOURS, HAIR_COLOURS, HAIR_COLOUR_TAGS, LORELEI_INK, SKIN_COLOURS } from './palette.ts';
import {
  ADVENTURER_EARRINGS, ADVENTURER_EYES, ADVENTURER_FEATURES, ADVENTURER_GLASSES, ADVENTURER_HAIR, ADVENTURER_MOUTH,
  HAIR_HIDING_AN_EYE, LORELEI_EARRINGS, LORELEI_EYES, LORELEI_GLASSES, LORELEI_HAIR, LORELEI_MOUTH, variantsWith,
  type EyeState, type HairLength, type MouthTag,
} from './styles.ts';

export interface SceneRecipe {
  background: BackgroundRecipe;
  /** Back to front. */
  characters: CharacterRecipe[];
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

function candidates(style: StyleName): Candidates {
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

const CANDIDATES: Record<StyleName, Candidates> = { lorelei: candidates('lorelei'), adventurer: candidates('adventurer') };

function sampleOptions(rng: Rng, style: StyleName, size: number): AvatarOptions {
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

export function sampleScene(rng: Rng): SceneRecipe {
  const background = sampleBackground(rng);
  const u = rng.next(), [p1, p2] = FREQUENCIES.characters;
  const n = u < p1 ? 1 : u < p1 + p2 ? 2 : 3;
  const characters = rng.shuffle(layout(rng, n)).map((slot): CharacterRecipe => {
    const style: StyleName = chance(rng, 0.5) ? 'lorelei' : 'adventurer';
    return { style, options: sampleOptions(rng, style, slot.size), ...slot, rotation: rng.uniform(-25, 25), flip: chance(rng, 0.5) };
  });
  return { background, characters };
}

/** The Rng of image `index` of a dataset seeded `seed`: independent of count, order and concurrency. */
export function imageRng(seed: number, index: number): Rng {
  const base = new Rng(seed).state;
  const mix = new Rng(Math.imul(index, 0x9e3779b1) ^ 0x5bd1e995).state;
  const state = base.slice(0, 4).map((w, k) => (w ^ mix[k]! ^ (k === 0 ? index >>> 0 : 0)) >>> 0);
  if (!state.some((w) => w !== 0)) state[0] = 1;
  return new Rng(state);
}
