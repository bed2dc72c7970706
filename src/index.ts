/** The public surface of tagbooru. */
export { createTagger, Tagger } from './tagger.ts';
export { type ImageInput, type TagOptions, type TagResult, type TaggerOptions } from './infer/tagger.ts';
export { readBundle, writeBundle, presetSpec, type Bundle, type BundleManifest, type TagInfo, type Thresholds } from './infer/bundle.ts';
export { compileSelection, mcutThreshold, compileMatcher, normaliseTag, type SelectionOptions, type ScoredTag, type Selection } from './infer/selection.ts';
export {
  captionTags, compileCaption, compileCaptionText, formatTag, joinCaption, mergeCaption, parseCaptionOptions, CAPTION_DEFAULTS, KAOMOJI,
  type CaptionOptions, type CaptionStyle, type ExistingCaptionPolicy, type RawCaptionOptions,
} from './infer/caption.ts';
export { ModelSession } from './infer/session.ts';
export { EXPLAIN_METHODS, type ExplainMethod, type ExplainOptions, type ExplainResult, type TagRegion, type FloatMap, type Box } from './explain/types.ts';
export { PLACELESS_CATEGORIES, PLACELESS_TAGS, isPlaceless } from './explain/placeless.ts';
export { decodeImage, preprocess, loadImageTensor, resolvePreset, contentRect, inputToRgb, PRESETS, type PreprocessSpec, type PresetName, type DecodedImage, type ContentRect } from './image/index.ts';
export { ARCHITECTURES, buildModel, initWeights, exportInference, parameterCount, type ModelSpec, type Weights } from './models/index.ts';
export { Graph } from './graph/index.ts';
export { TagbooruError, type ErrorCode } from './errors.ts';
export { DEFAULT_MODEL_DIR, VERSION } from './package.ts';
