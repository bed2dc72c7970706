/** The synthetic character dataset: DiceBear portraits with exact Danbooru-style tags and masks. */
export { makeSyntheticDataset, artworkCredits, ARTWORK_CREDITS, DATABASE_FILE, GENERATOR, GENERATOR_VERSION, type SyntheticDatasetOptions, type SyntheticDatasetSummary } from './dataset.ts';
export { renderScene, type CharacterReport, type PartReport, type RenderedScene, type RenderOptions, type TagMask } from './render.ts';
export { imageRng, sampleScene, FREQUENCIES, type SceneRecipe } from './recipe.ts';
export { ALL_TAG_NAMES, COLOUR_TAGS, SYNTHETIC_TAGS, TAG_NAMES, WIDER_TAGS, type SyntheticTag } from './tags.ts';
export { DEFAULT_SETTINGS, PRESETS, presetSettings, type GeneratorSettings, type PresetName } from './settings.ts';
export type { ImageChoices } from './choices.ts';
export type { Look } from './look.ts';
export { PART_VISIBILITY, characterParts, type CharacterRecipe, type Part, type PartName, type StyleName } from './character.ts';
export type { BackgroundRecipe, Shape } from './background.ts';
