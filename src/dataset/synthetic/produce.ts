/** One image of a dataset, start to finish in memory: recipe → render → PNG bytes, md5 and mask PNGs. */
import { md5Hex } from '../../data/paths.ts';
import { encodeMaskPng } from './mask-png.ts';
import { toPng } from '../../image/encode.ts';
import { imageChoices, type ImageChoices } from './choices.ts';
import { imageRng, sampleScene, type SceneRecipe } from './recipe.ts';
import { renderScene } from './render.ts';
import { DEFAULT_SETTINGS, type GeneratorSettings } from './settings.ts';
import type { SyntheticTag } from './tags.ts';

export interface ProduceRequest {
  seed: number;
  index: number;
  size: number;
  masks: boolean;
  /** Plain data, so it crosses to a render worker as it is. */
  settings?: GeneratorSettings;
  preset?: string;
}

export interface ProducedImage {
  index: number;
  png: Uint8Array;
  md5: string;
  /** In tags.txt order. */
  tags: SyntheticTag[];
  masks: { tag: SyntheticTag; png: Uint8Array; pixels: number; box: [number, number, number, number] }[];
  /** Neither positive nor negative (render.ts). */
  unknownTags: SyntheticTag[];
  recipe: SceneRecipe;
  choices: ImageChoices;
}

export async function produceImage({ seed, index, size, masks, settings = DEFAULT_SETTINGS, preset = 'default' }: ProduceRequest): Promise<ProducedImage> {
  const recipe = sampleScene(imageRng(seed, index), settings);
  const scene = await renderScene(recipe, { size });
  const png = await toPng(scene.rgb, size, size, 3, { flat: true });
  return {
    index,
    png,
    md5: md5Hex(png),
    tags: scene.tags,
    masks: masks ? [...scene.masks].map(([tag, m]) => ({ tag, png: new Uint8Array(encodeMaskPng(m.data, size, size)), pixels: m.pixels, box: m.box })) : [],
    unknownTags: scene.unknownTags,
    recipe,
    choices: imageChoices(preset, recipe, scene),
  };
}
