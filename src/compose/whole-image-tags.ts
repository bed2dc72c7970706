/**
 * Tags that describe the whole picture rather than something in it: Danbooru's image-composition groups (how
 * many characters, the background, the colour scheme and medium, the framing) and the ratings. A tile of the
 * image cannot answer them (a tile of a crowd shows one person, a tile of a gradient a plain background), so
 * tiled test-time augmentation (src/compose/tta.ts) reads them from the whole image alone.
 */
import type { TagInfo } from '../infer/bundle.ts';

const WHOLE_IMAGE: readonly RegExp[] = [
  /^rating:/,
  // counts: 1girl, 2boys, 6+girls, 3others, multiple_girls, solo, no_humans
  /^\d+\+?(girls?|boys?|others)$/, /^multiple_(girls|boys|others)$/, /^solo(_focus)?$/, /^no_humans$/,
  /_background$/, /^scenery$/,
  /^(monochrome|greyscale|lineart|sketch|comic|spot_color|limited_palette|partially_colored|sepia|high_contrast|pixel_art|3d|realistic|photorealistic|traditional_media|watercolor_\(medium\))$/,
  /^(portrait|close-up|upper_body|cowboy_shot|full_body|lower_body|wide_shot|dutch_angle|from_above|from_below|from_side|from_behind)$/,
  /^(border|letterboxed|blurry|depth_of_field|chromatic_aberration|jpeg_artifacts|film_grain)$/,
];

export function isWholeImageTag(tag: Pick<TagInfo, 'name' | 'category'>): boolean {
  return tag.category === 'rating' || WHOLE_IMAGE.some((pattern) => pattern.test(tag.name));
}
