/** The synthetic character dataset: DiceBear portraits with exact Danbooru-style tags and masks. */
export { makeSyntheticDataset, ARTWORK_CREDITS, DATABASE_FILE, GENERATOR, GENERATOR_VERSION, type SyntheticDatasetOptions, type SyntheticDatasetSummary } from './dataset.ts';
export { renderScene, type PartReport, type RenderedScene, type RenderOptions, type TagMask } from './render.ts';
export { imageRng, sampleScene, FREQUENCIES, type SceneRecipe } from './recipe.ts';
export { SYNTHETIC_TAGS, TAG_NAMES, type SyntheticTag } from './tags.ts';
export { PART_VISIBILITY, characterParts, type CharacterRecipe, type Part, type PartName, type StyleName } from './character.ts';
export type { BackgroundRecipe, Shape } from './background.ts';
