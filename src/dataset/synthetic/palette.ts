/**
 * Colours passed to DiceBear explicitly, so a colour tag is exact: each hair-colour tag owns a few
 * shades far from every other tag's shades (checked by a test, and by looking at a sheet of them).
 */
import type { SyntheticTag } from './tags.ts';

export type HairColourTag = Extract<SyntheticTag, `${string}_hair`> & Exclude<SyntheticTag, 'long_hair' | 'short_hair'>;

export const HAIR_COLOURS = {
  black_hair: ['151515', '232323', '1b1f2a'],
  brown_hair: ['5b3a1e', '6f4a2a', '80522d'],
  blonde_hair: ['eccb5f', 'f2d675', 'e3bc4e'],
  red_hair: ['b51f1f', 'c8352a', '9e1b17'],
  orange_hair: ['e8731c', 'f08a2c', 'd9661a'],
  pink_hair: ['f08bb8', 'e86fa6', 'f5a3c7'],
  purple_hair: ['7a3fa0', '8e4fc0', '63308a'],
  blue_hair: ['2f63d6', '3c7ae6', '224ca8'],
  green_hair: ['2f9e44', '3cb25a', '23823a'],
  grey_hair: ['8a8a8a', '9a9a9a', '7c8088'],
  white_hair: ['f4f4f4', 'ffffff', 'ececf0'],
} as const satisfies Record<HairColourTag, readonly string[]>;

export const HAIR_COLOUR_TAGS = Object.keys(HAIR_COLOURS) as HairColourTag[];

/** `dark_skin` when the skin is one of `dark`; the light shades carry no tag. */
export const SKIN_COLOURS = {
  light: ['f2d3b1', 'ecc49e', 'f8dcc4', 'ecad80'],
  dark: ['9e5622', '8d5524', '763900', '5e3a1e'],
} as const;

/** Outline colours of lorelei's hair flowers (the petals are white). */
export const FLOWER_COLOURS = ['e85d9c', 'd6336c', 'f59f00', '7048e8', '1c7ed6'] as const;

/** lorelei draws its line art in these colours; black, as the style intends. */
export const LORELEI_INK = '000000';

const BY_HEX = new Map<string, HairColourTag>(HAIR_COLOUR_TAGS.flatMap((tag) => HAIR_COLOURS[tag].map((hex) => [hex, tag] as const)));

/** The tag of a hair colour as DiceBear reports it (`#rrggbb` or `rrggbb`), or undefined if it is no palette colour. */
export function hairColourTag(colour: string): HairColourTag | undefined {
  return BY_HEX.get(colour.replace(/^#/, '').toLowerCase());
}

export function isDarkSkin(colour: string): boolean {
  return (SKIN_COLOURS.dark as readonly string[]).includes(colour.replace(/^#/, '').toLowerCase());
}
