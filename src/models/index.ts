export { ARCHITECTURES, buildModel, expectImageSize, minimumImageSize, type ModelOptions } from './registry.ts';
export { RESNET_VARIANTS, type ResNetConfig } from './resnet.ts';
export { initWeights } from './init.ts';
export { exportInference, foldBatchNorm, DEFAULT_INPUT, DEFAULT_OUTPUT, type ExportOptions } from './export.ts';
export { inferShapes, minimumInputSize, parameterCount, variables } from './shapes.ts';
export { Rng } from './random.ts';
export type { Layer, LayerKind, ModelSpec, Weights } from './spec.ts';
export { DENOISER_ARCHITECTURE, buildDenoiser, type DenoiserShape } from './denoiser.ts';
