export { BUILTIN_DEFENCES, NO_DEFENCE, chainDefences, createDefence, formatDefenceSpec, parseDefenceSpec, type DefenceFactory, type DefenceParams, type ParamRule, type ParsedDefence } from './registry.ts';
export { seededRandom } from './random.ts';
export { bitDepth, gaussianNoise, jpeg, median, resizePad } from './transforms.ts';
