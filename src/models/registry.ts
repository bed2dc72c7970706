import { TagbooruError } from '../errors.ts';
import { RESNET_VARIANTS, buildResNet, type ResNetOptions } from './resnet.ts';
import type { ModelSpec } from './spec.ts';

export type ModelOptions = ResNetOptions;

/** Every architecture tagbooru can build, by name. */
export const ARCHITECTURES: readonly string[] = Object.keys(RESNET_VARIANTS);

export function buildModel(arch: string, options: ModelOptions): ModelSpec {
  const config = (RESNET_VARIANTS as Record<string, (typeof RESNET_VARIANTS)[keyof typeof RESNET_VARIANTS] | undefined>)[arch];
  if (!config) throw new TagbooruError('E_MODEL', `Unknown model "${arch}". Known: ${ARCHITECTURES.join(', ')}`);
  return buildResNet(arch, config, options);
}
