/**
 * One character: DiceBear options (the project's only DiceBear import), the parts it actually drew
 * (from `toJson().extra`) with their tags, and its SVG placed in the scene.
 */
import { createAvatar, type Style } from '@dicebear/core';
import { adventurer, lorelei, micah } from '@dicebear/collection';
import { TagbooruError } from '../../errors.ts';
import { classifyHair, classifySkin } from './colour-bands.ts';
import { hairColourTag, isDarkSkin } from './palette.ts';
import { MICAH_EARRINGS, MICAH_FACIAL_HAIR, MICAH_GLASSES, MICAH_HAIR, MICAH_MOUTH } from './styles-micah.ts';
import {
  ADVENTURER_EARRINGS, ADVENTURER_EYES, ADVENTURER_FEATURES, ADVENTURER_GLASSES, ADVENTURER_HAIR, ADVENTURER_MOUTH,
  LORELEI_EARRINGS, LORELEI_EYES, LORELEI_GLASSES, LORELEI_HAIR, LORELEI_MOUTH,
} from './styles.ts';
import type { StyleName } from './settings.ts';
import type { SyntheticTag } from './tags.ts';

export const STYLES = { lorelei, adventurer, micah } as const satisfies Record<StyleName, unknown>;
export type { StyleName };

/** Explicit DiceBear options: one value per component list, every probability 0 or 100. */
export type AvatarOptions = Record<string, string[] | number | boolean | string>;

/** A character in the scene. Position and size are fractions of the image side; rotation in degrees. */
export interface CharacterRecipe {
  style: StyleName;
  options: AvatarOptions;
  x: number;
  y: number;
  size: number;
  rotation: number;
  flip: boolean;
}

export type PartName = 'hair' | 'eyes' | 'mouth' | 'eyewear' | 'earrings' | 'blush' | 'freckles' | 'mustache' | 'beard' | 'flower' | 'skin';

/** A drawn component that carries tags, and the option patch that draws the avatar without it. */
export interface Part {
  name: PartName;
  tags: SyntheticTag[];
  without: AvatarOptions;
  /** Tags this part may show but cannot be told (a colour near a band edge): neither positive nor negative. */
  unknown?: SyntheticTag[];
  /** Pixels of this part's removal that belong to another part (lorelei's beard is drawn in the hair colour). */
  subtract?: PartName;
  /** The options that draw this part alone on a bare head (see footprint.ts); absent: compare the whole avatar. */
  alone?: AvatarOptions;
}

/**
 * When a part counts as visible: at least `pixels` changed pixels at 256 px (scaled with the image
 * area) and at least `fraction` of the pixels it changes with no other character in front of it.
 */
export const PART_VISIBILITY = {
  hair: { pixels: 150, fraction: 0.35 },
  eyes: { pixels: 20, fraction: 0.8 },
  mouth: { pixels: 12, fraction: 0.6 },
  eyewear: { pixels: 40, fraction: 0.5 },
  earrings: { pixels: 6, fraction: 0.5 },
  blush: { pixels: 30, fraction: 0.5 },
  freckles: { pixels: 6, fraction: 0.5 },
  mustache: { pixels: 15, fraction: 0.5 },
  beard: { pixels: 80, fraction: 0.4 },
  flower: { pixels: 30, fraction: 0.4 },
  skin: { pixels: 300, fraction: 0.3 },
} as const satisfies Record<PartName, { pixels: number; fraction: number }>;

// Optional components and the option that switches each on or off.
const PROBABILITY_OF = {
  lorelei: { hairAccessories: 'hairAccessoriesProbability', earrings: 'earringsProbability', freckles: 'frecklesProbability', beard: 'beardProbability', glasses: 'glassesProbability' },
  adventurer: { features: 'featuresProbability', glasses: 'glassesProbability', hair: 'hairProbability', earrings: 'earringsProbability' },
  micah: { glasses: 'glassesProbability', hair: 'hairProbability', earrings: 'earringsProbability', facialHair: 'facialHairProbability' },
} as const satisfies Record<StyleName, Record<string, string>>;

export interface Avatar {
  /** The avatar's own SVG document (viewBox in DiceBear units). */
  svg: string;
  /** `toJson().extra`: the components and colours actually drawn. */
  extra: Record<string, unknown>;
}

export function createCharacterAvatar(style: StyleName, options: AvatarOptions): Avatar {
  // `clip: false`: the viewBox mask DiceBear adds by default carries a fixed id and costs a render pass
  // both styles take plain records of option lists; their own option types differ only in the names
  const result = createAvatar(STYLES[style] as unknown as Style<AvatarOptions>, { ...options, seed: '', clip: false });
  const svg = result.toString().replace(/<metadata[\s\S]*?<\/metadata>/, '');
  return { svg, extra: result.toJson().extra };
}

/**
 * The options with every optional component's probability set to what was actually drawn: DiceBear
 * hides some components itself (adventurer drops earrings under some long hair), and removing another
 * part must not bring them back.
 */
export function settleOptions(style: StyleName, options: AvatarOptions, extra: Record<string, unknown>): AvatarOptions {
  const settled = { ...options };
  for (const [component, probability] of Object.entries(PROBABILITY_OF[style])) settled[probability] = extra[component] ? 100 : 0;
  return settled;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function lookup<T>(table: Record<string, T>, key: unknown, what: string): T | undefined {
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || !(key in table)) throw new TagbooruError('E_INTERNAL', `DiceBear drew ${what} ${JSON.stringify(key)}, which no table in styles.ts labels`);
  return table[key];
}

/** A hair colour's label: a palette shade's tag, else its colour band's (colour-bands.ts). */
function hairColourLabel(colour: string | undefined): { tags: SyntheticTag[]; unknown: SyntheticTag[] } {
  if (colour === undefined) return { tags: [], unknown: [] };
  const shade = hairColourTag(colour);
  if (shade) return { tags: [shade], unknown: [] };
  const band = classifyHair(colour);
  return 'tag' in band ? { tags: [band.tag], unknown: [] } : { tags: [], unknown: band.unknown };
}

function skinPart(colour: string | undefined, head: AvatarOptions, without: AvatarOptions): Part | undefined {
  if (colour === undefined || colour === 'transparent') return undefined;
  const band = isDarkSkin(colour) ? { tag: 'dark_skin' as const } : classifySkin(colour);
  if ('unknown' in band) return { name: 'skin', tags: [], unknown: band.unknown, without, alone: head };
  return band.tag === 'dark_skin' ? { name: 'skin', tags: ['dark_skin'], without, alone: head } : undefined;
}

/** micah's parts: the tables of styles-micah.ts. */
function micahParts(extra: Record<string, unknown>): Part[] {
  const parts: Part[] = [];
  const length = lookup<string | null>(MICAH_HAIR, extra.hair, 'hair');
  if (extra.hair !== undefined) {
    const colour = hairColourLabel(str(extra.hairColor));
    const tags = [length, ...colour.tags].filter((t): t is SyntheticTag => typeof t === 'string');
    if (tags.length + colour.unknown.length > 0) {
      parts.push({ name: 'hair', tags, unknown: colour.unknown, without: { hairProbability: 0 }, alone: { hair: [str(extra.hair)!], hairColor: ['5b3a1e'], hairProbability: 100 } });
    }
  }
  const mouth = lookup<readonly SyntheticTag[] | null>(MICAH_MOUTH, extra.mouth, 'mouth');
  if (mouth) parts.push({ name: 'mouth', tags: [...mouth], without: { mouth: [] }, alone: { mouth: [str(extra.mouth)!] } });
  const eyewear = lookup<SyntheticTag>(MICAH_GLASSES, extra.glasses, 'glasses');
  if (eyewear) parts.push({ name: 'eyewear', tags: [eyewear], without: { glassesProbability: 0 }, alone: { glasses: [str(extra.glasses)!], glassesProbability: 100 } });
  if (lookup<boolean>(MICAH_EARRINGS, extra.earrings, 'earrings')) {
    parts.push({ name: 'earrings', tags: ['earrings'], without: { earringsProbability: 0 }, alone: { earrings: [str(extra.earrings)!], earringsProbability: 100 } });
  }
  if (lookup<'beard' | null>(MICAH_FACIAL_HAIR, extra.facialHair, 'facialHair')) {
    parts.push({ name: 'beard', tags: ['beard'], without: { facialHairProbability: 0 }, alone: { facialHair: [str(extra.facialHair)!], facialHairProbability: 100 } });
  }
  const skin = skinPart(str(extra.baseColor)?.replace(/^#/, ''), {}, { baseColor: ['transparent'] });
  if (skin) parts.push(skin);
  return parts;
}

/** The tagged parts of a drawn avatar, from `extra` and the tables in styles.ts and styles-micah.ts. */
export function characterParts(style: StyleName, extra: Record<string, unknown>): Part[] {
  if (style === 'micah') return micahParts(extra);
  const parts: Part[] = [];
  const lor = style === 'lorelei';
  // lorelei's head variant places the face; keep it in every footprint
  const head: AvatarOptions = lor ? { head: [str(extra.head)!] } : {};
  const hairLength = lookup<string | null>(lor ? LORELEI_HAIR : ADVENTURER_HAIR, extra.hair, 'hair');
  const hairColour = hairColourLabel(str(extra.hairColor));
  if (extra.hair !== undefined) {
    const tags = [hairLength, ...hairColour.tags].filter((t): t is SyntheticTag => typeof t === 'string');
    if (tags.length + hairColour.unknown.length > 0) {
      // lorelei's hair holds the whole head, so it cannot be left out: it is made transparent instead
      parts.push({
        name: 'hair',
        tags,
        ...(hairColour.unknown.length > 0 && { unknown: hairColour.unknown }),
        without: lor ? { hairColor: ['transparent'] } : { hairProbability: 0 },
        alone: { ...head, hair: [str(extra.hair)!], hairColor: ['5b3a1e'], hairProbability: 100 },
        ...(lor && extra.beard !== undefined && { subtract: 'beard' as const }),
      });
    }
  }
  const eyes = lookup<string | null>(lor ? LORELEI_EYES : ADVENTURER_EYES, extra.eyes, 'eyes');
  if (eyes === 'closed_eyes' || eyes === 'one_eye_closed') parts.push({ name: 'eyes', tags: [eyes], without: { eyes: [] }, alone: { ...head, eyes: [str(extra.eyes)!] } });
  const mouth = lookup<readonly SyntheticTag[] | null>(lor ? LORELEI_MOUTH : ADVENTURER_MOUTH, extra.mouth, 'mouth');
  if (mouth) parts.push({ name: 'mouth', tags: [...mouth], without: { mouth: [] }, alone: { ...head, mouth: [str(extra.mouth)!] } });
  const eyewear = lookup<SyntheticTag>(lor ? LORELEI_GLASSES : ADVENTURER_GLASSES, extra.glasses, 'glasses');
  if (eyewear) parts.push({ name: 'eyewear', tags: [eyewear], without: { glassesProbability: 0 }, alone: { ...head, glasses: [str(extra.glasses)!], glassesProbability: 100 } });
  if (lookup<boolean>(lor ? LORELEI_EARRINGS : ADVENTURER_EARRINGS, extra.earrings, 'earrings')) {
    parts.push({ name: 'earrings', tags: ['earrings'], without: { earringsProbability: 0 }, alone: { ...head, earrings: [str(extra.earrings)!], earringsProbability: 100 } });
  }
  if (lor) {
    if (extra.beard !== undefined) parts.push({ name: 'beard', tags: ['beard'], without: { beardProbability: 0 }, alone: { ...head, beard: [str(extra.beard)!], beardProbability: 100, hairColor: ['5b3a1e'] } });
    if (extra.freckles !== undefined) parts.push({ name: 'freckles', tags: ['freckles'], without: { frecklesProbability: 0 }, alone: { ...head, freckles: [str(extra.freckles)!], frecklesProbability: 100 } });
    if (extra.hairAccessories !== undefined) parts.push({ name: 'flower', tags: ['hair_flower'], without: { hairAccessoriesProbability: 0 }, alone: { ...head, hairAccessories: [str(extra.hairAccessories)!], hairAccessoriesProbability: 100 } });
  } else {
    const feature = lookup<'blush' | 'freckles' | 'mustache' | null>(ADVENTURER_FEATURES, extra.features, 'features');
    if (feature) parts.push({ name: feature, tags: [feature], without: { featuresProbability: 0 }, alone: { features: [feature], featuresProbability: 100 } });
  }
  const skin = skinPart(str(extra.skinColor), head, { skinColor: ['transparent'] });
  if (skin) parts.push(skin);
  return parts;
}

/** Integer pixel rectangle [x0, x1) × [y0, y1). */
export interface PixelBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** The pixels a character can touch: its rotated square's bounding box, clipped to the image (unless `clip` is false); null if off-image. */
export function characterBox(c: CharacterRecipe, size: number, clip = true): PixelBox | null {
  const a = (c.rotation * Math.PI) / 180;
  const half = ((c.size * size) / 2) * (Math.abs(Math.cos(a)) + Math.abs(Math.sin(a))) + 1;
  const lo = clip ? 0 : -Infinity, hi = clip ? size : Infinity;
  const x0 = Math.max(lo, Math.floor(c.x * size - half)), x1 = Math.min(hi, Math.ceil(c.x * size + half));
  const y0 = Math.max(lo, Math.floor(c.y * size - half)), y1 = Math.min(hi, Math.ceil(c.y * size + half));
  return x1 > x0 && y1 > y0 ? { x0, y0, x1, y1 } : null;
}

/**
 * An SVG element showing `box` of the scene with only this character in it, placed, rotated and
 * mirrored, drawn at (`atX`, `atY`) of the document it goes into.
 */
export function placedSvg(c: CharacterRecipe, avatarSvg: string, size: number, box: PixelBox, atX = 0, atY = 0): string {
  const s = c.size * size, w = box.x1 - box.x0, h = box.y1 - box.y0;
  const inner = avatarSvg.replace(/^<svg /, `<svg x="0" y="0" width="${s.toFixed(3)}" height="${s.toFixed(3)}" `);
  const transform = `translate(${(c.x * size).toFixed(3)} ${(c.y * size).toFixed(3)}) rotate(${c.rotation.toFixed(3)}) scale(${c.flip ? -1 : 1} 1) translate(${(-s / 2).toFixed(3)} ${(-s / 2).toFixed(3)})`;
  return `<svg x="${atX}" y="${atY}" width="${w}" height="${h}" viewBox="${box.x0} ${box.y0} ${w} ${h}"><g transform="${transform}">${inner}</g></svg>`;
}
