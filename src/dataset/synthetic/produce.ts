/** One image of a dataset, start to finish in memory: recipe → render → PNG bytes, md5 and mask PNGs. */
import { md5Hex } from '../../data/paths.ts';
import { encodeMaskPng } from './mask-png.ts';
import { toPng } from '../../image/encode.ts';
import { imageRng, sampleScene, type SceneRecipe } from './recipe.ts';
import { renderScene } from './render.ts';
import type { SyntheticTag } from './tags.ts';

export interface ProduceRequest {
  seed: number;
  index: number;
  size: number;
  masks: boolean;
}

export interface ProducedImage {
  index: number;
  png: Uint8Array;
  md5: string;
  /** In tags.txt order. */
  tags: SyntheticTag[];
  masks: { tag: SyntheticTag; png: Uint8Array; pixels: number; box: [number, number, number, number] }[];
  recipe: SceneRecipe;
}

export async function produceImage({ seed, index, size, masks }: ProduceRequest): Promise<ProducedImage> {
  const recipe = sampleScene(imageRng(seed, index));
  const scene = await renderScene(recipe, { size });
  const png = await toPng(scene.rgb, size, size, 3, { flat: true });
  return {
    index,
    png,
    md5: md5Hex(png),
    tags: scene.tags,
    masks: masks ? [...scene.masks].map(([tag, m]) => ({ tag, png: new Uint8Array(encodeMaskPng(m.data, size, size)), pixels: m.pixels, box: m.box })) : [],
    recipe,
  };
}
