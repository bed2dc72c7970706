/**
 * Tags that have no place in the image: a map for them shows only what the model looked at, never where the
 * tag "is". The default explanation skips them (`includePlaceless` keeps them). Data, not code.
 */
import { normaliseTag } from '../infer/selection.ts';

/** Whole categories: about the image, its source or its makers (reference/robustness.md §g). */
export const PLACELESS_CATEGORIES: readonly string[] = ['rating', 'meta', 'artist', 'copyright', 'system'];

/** General tags about the image as a whole: who and how many, the medium, the camera, the scene. */
export const PLACELESS_TAGS: readonly string[] = [
  // how many, and who
  'solo', 'solo_focus', 'duo', 'trio', 'group', 'crowd', 'everyone',
  '1girl', '2girls', '3girls', '4girls', '5girls', '6+girls', 'multiple_girls',
  '1boy', '2boys', '3boys', '4boys', '5boys', '6+boys', 'multiple_boys',
  '1other', '2others', '3others', '4others', '5others', '6+others', 'multiple_others',
  'no_humans', 'male_focus', 'female_focus', 'other_focus', 'yuri', 'yaoi', 'hetero',
  // the picture as an object: resolution, medium, palette, style, layout
  'highres', 'absurdres', 'incredibly_absurdres', 'lowres', 'jpeg_artifacts', 'commentary', 'commentary_request',
  'translated', 'comic', '4koma', 'monochrome', 'greyscale', 'sepia', 'spot_color', 'limited_palette', 'sketch',
  'traditional_media', 'official_art', 'scan', 'cosplay', 'realistic', 'photorealistic', 'blurry', 'depth_of_field',
  // the camera and the scene as a whole
  'upper_body', 'full_body', 'cowboy_shot', 'portrait', 'close-up', 'from_above', 'from_below', 'from_side',
  'from_behind', 'dutch_angle', 'pov', 'wide_shot', 'outdoors', 'indoors', 'day', 'night',
  // NOTE: signature, watermark, artist_name and backgrounds are not here: they do have a place
];

const TAGS = new Set(PLACELESS_TAGS.map(normaliseTag));
const CATEGORIES = new Set(PLACELESS_CATEGORIES);

export function isPlaceless(tag: { readonly name: string; readonly category: string }): boolean {
  return CATEGORIES.has(tag.category) || tag.name.startsWith('rating:') || TAGS.has(normaliseTag(tag.name));
}
