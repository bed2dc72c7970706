/**
 * What an augmentation can do to a tag depends on what the tag says about the picture. This table says it
 * for any tag list, Danbooru's or the generator's: a tag is
 *   colour  when a `_`-separated word of it is a colour word (`red_hair`, `blue_eyes`, `white_background`)
 *           or it is listed below (`dark_skin`, `multicolored_hair`): greyscale makes it unknowable;
 *   sided   when it names a left or right side (`hand_on_left_hip`): a flip makes it the other side's;
 *   global  when it describes the whole picture, not a part of it (backgrounds, ratings, media): a crop
 *           cannot cut it out, so only the other tags are localisable;
 *   count   when it counts the characters (`solo`, `2others`, `1girl`, `multiple_boys`): a crop or cutout that
 *           hides a character changes the count either way, so such a tag, positive or negative, is unknowable;
 *   background  when it names the background (`white_background`): line art keeps a background's edges alone, so
 *           a gradient passes for white.
 */
export type TagProperty = 'colour' | 'sided' | 'global' | 'count' | 'background';

export const COLOUR_WORDS: readonly string[] = [
  'aqua', 'beige', 'black', 'blonde', 'blue', 'brown', 'cyan', 'gold', 'golden', 'gray', 'green', 'grey', 'indigo', 'lavender',
  'magenta', 'maroon', 'navy', 'orange', 'pink', 'purple', 'red', 'silver', 'tan', 'teal', 'turquoise', 'violet', 'white', 'yellow',
];

/** Colour tags no colour word gives away. */
export const COLOUR_TAGS: readonly string[] = [
  'dark_skin', 'dark-skinned_female', 'dark-skinned_male', 'pale_skin', 'tanlines', 'colored_skin', 'multicolored_hair', 'gradient_hair',
  'two-tone_hair', 'streaked_hair', 'colored_inner_hair', 'rainbow_hair', 'heterochromia', 'multicolored_eyes', 'colorful',
];

/** Never colour tags, whatever their words: they describe the absence of colour, which greyscale makes true. */
export const COLOURLESS_TAGS: readonly string[] = ['monochrome', 'greyscale', 'lineart', 'sketch', 'spot_color'];

export const SIDE_WORDS: readonly string[] = ['left', 'right'];

export const GLOBAL_TAGS: readonly string[] = [
  'monochrome', 'greyscale', 'lineart', 'sketch', 'spot_color', 'traditional_media', 'photo_(medium)', 'comic', 'jpeg_artifacts', 'blurry',
  'highres', 'absurdres', 'lowres', 'border', 'letterboxed', 'no_humans', 'scenery',
];
const BACKGROUND_PATTERN = /_background$/;
const GLOBAL_PATTERNS: readonly RegExp[] = [BACKGROUND_PATTERN, /^rating:/, /^score:/];
/** Danbooru's count tags: `solo`, `1girl`, `2boys`, `6+others`, `multiple_girls`. */
const COUNT_PATTERN = /^(solo|multiple_(girls|boys|others)|\d+\+?(girls?|boys?|others?))$/;

export function tagProperties(tag: string): Set<TagProperty> {
  const words = tag.split('_');
  const out = new Set<TagProperty>();
  if (!COLOURLESS_TAGS.includes(tag) && (COLOUR_TAGS.includes(tag) || words.some((w) => COLOUR_WORDS.includes(w)))) out.add('colour');
  if (words.some((w) => SIDE_WORDS.includes(w))) out.add('sided');
  if (GLOBAL_TAGS.includes(tag) || GLOBAL_PATTERNS.some((r) => r.test(tag))) out.add('global');
  if (COUNT_PATTERN.test(tag)) out.add('count');
  if (BACKGROUND_PATTERN.test(tag)) out.add('background');
  return out;
}
