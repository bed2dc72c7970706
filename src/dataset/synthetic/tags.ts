/**
 * Every tag the synthetic generator can emit, in `tags.txt` order, with how it is derived. The README's
 * tag table is this table. All tags are Danbooru general tags (category 0).
 *
 * A tag from a drawn component is kept only when the component is visible in the final image: the
 * image is rendered with and without it, and enough pixels must differ (see `PART_VISIBILITY`).
 */
export const SYNTHETIC_TAGS = [
  // composition: the number of characters drawn (Danbooru's count tags for characters of unknown gender)
  { tag: 'solo', group: 'composition', how: 'one character' },
  { tag: '2others', group: 'composition', how: 'two characters' },
  { tag: '3others', group: 'composition', how: 'three characters' },
  // hair: length from the hair variant (table in styles.ts), colour from the hairColor passed to DiceBear
  { tag: 'long_hair', group: 'hair', how: 'hair variant whose hair falls below the mouth line (styles.ts)' },
  { tag: 'short_hair', group: 'hair', how: 'hair variant with no hair below the mouth line (styles.ts)' },
  { tag: 'black_hair', group: 'hair colour', how: 'hairColor from the black_hair palette (palette.ts)' },
  { tag: 'brown_hair', group: 'hair colour', how: 'hairColor from the brown_hair palette' },
  { tag: 'blonde_hair', group: 'hair colour', how: 'hairColor from the blonde_hair palette' },
  { tag: 'red_hair', group: 'hair colour', how: 'hairColor from the red_hair palette' },
  { tag: 'orange_hair', group: 'hair colour', how: 'hairColor from the orange_hair palette' },
  { tag: 'pink_hair', group: 'hair colour', how: 'hairColor from the pink_hair palette' },
  { tag: 'purple_hair', group: 'hair colour', how: 'hairColor from the purple_hair palette' },
  { tag: 'blue_hair', group: 'hair colour', how: 'hairColor from the blue_hair palette' },
  { tag: 'green_hair', group: 'hair colour', how: 'hairColor from the green_hair palette' },
  { tag: 'grey_hair', group: 'hair colour', how: 'hairColor from the grey_hair palette' },
  { tag: 'white_hair', group: 'hair colour', how: 'hairColor from the white_hair palette' },
  // face
  { tag: 'dark_skin', group: 'face', how: 'skinColor from the dark_skin palette' },
  { tag: 'closed_eyes', group: 'face', how: 'eyes variant with both eyes closed (styles.ts)' },
  { tag: 'one_eye_closed', group: 'face', how: 'eyes variant winking (styles.ts)' },
  { tag: 'smile', group: 'face', how: 'mouth variant labelled smile by looking at it (styles.ts)' },
  { tag: 'open_mouth', group: 'face', how: 'mouth variant labelled open_mouth by looking at it (styles.ts)' },
  { tag: 'frown', group: 'face', how: 'mouth variant labelled frown by looking at it (styles.ts)' },
  { tag: 'blush', group: 'face', how: 'adventurer feature "blush"' },
  { tag: 'freckles', group: 'face', how: 'adventurer feature "freckles", lorelei freckles' },
  { tag: 'mustache', group: 'face', how: 'adventurer feature "mustache"' },
  { tag: 'beard', group: 'face', how: 'lorelei beard (both variants are full beards)' },
  // accessories
  { tag: 'glasses', group: 'accessories', how: 'glasses variant with clear lenses (styles.ts)' },
  { tag: 'sunglasses', group: 'accessories', how: 'glasses variant with dark lenses (styles.ts)' },
  { tag: 'earrings', group: 'accessories', how: 'earrings variant big enough to see (styles.ts)' },
  { tag: 'hair_flower', group: 'accessories', how: 'lorelei hairAccessories "flowers"' },
  // background: the flat ones follow Danbooru's habit of tagging white_background with simple_background too
  { tag: 'white_background', group: 'background', how: 'background #ffffff (with simple_background)' },
  { tag: 'simple_background', group: 'background', how: 'one flat colour, white included' },
  { tag: 'gradient_background', group: 'background', how: 'a linear gradient between two distinct colours' },
  { tag: 'abstract_background', group: 'background', how: 'a flat colour cluttered with random circles, rectangles, triangles and lines' },
] as const satisfies readonly { tag: string; group: string; how: string }[];

/**
 * Tags only the wider generator settings emit (settings.ts): a dataset made with the default settings
 * keeps the tags.txt above, so the bundled model's training set reproduces.
 */
export const WIDER_TAGS = [
  { tag: '4others', group: 'composition', how: 'four characters' },
  { tag: '5others', group: 'composition', how: 'five characters' },
  { tag: '6+others', group: 'composition', how: 'six or more characters' },
  // Danbooru: greyscale implies monochrome; black lines on white are both as well
  { tag: 'monochrome', group: 'rendering', how: 'rendered in one hue: greyscale, a tinted ramp or line art (look.ts)' },
  { tag: 'greyscale', group: 'rendering', how: 'rendered in shades of grey, line art included' },
  { tag: 'lineart', group: 'rendering', how: 'the outlines of the drawing alone, black on white' },
] as const satisfies readonly { tag: string; group: string; how: string }[];

export type SyntheticTag = (typeof SYNTHETIC_TAGS)[number]['tag'] | (typeof WIDER_TAGS)[number]['tag'];

/** The default generator's tags, in tags.txt order. */
export const TAG_NAMES: readonly SyntheticTag[] = SYNTHETIC_TAGS.map((t) => t.tag);
/** Every tag the generator can emit under any settings: tags.txt of a dataset made with wider settings. */
export const ALL_TAG_NAMES: readonly SyntheticTag[] = [...TAG_NAMES, ...WIDER_TAGS.map((t) => t.tag)];

/** Tags that name a colour: unknown (not negative) once an image is drawn without colour. */
export const COLOUR_TAGS: readonly SyntheticTag[] = SYNTHETIC_TAGS.filter((t) => t.group === 'hair colour' || t.tag === 'dark_skin').map((t) => t.tag);
