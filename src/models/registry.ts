import { TagbooruError } from '../errors.ts';
import { RESNET_VARIANTS, buildResNet, type ResNetConfig, type ResNetOptions } from './resnet.ts';
import { minimumInputSize } from './shapes.ts';
import type { ModelSpec } from './spec.ts';

export type ModelOptions = ResNetOptions;

/** Every architecture tagbooru can build, by name. */
export const ARCHITECTURES: readonly string[] = Object.keys(RESNET_VARIANTS);

function variant(arch: string): ResNetConfig {
  const config = (RESNET_VARIANTS as Record<string, ResNetConfig | undefined>)[arch];
  if (!config) throw new TagbooruError('E_MODEL', `Unknown model "${arch}". Known: ${ARCHITECTURES.join(', ')}`);
  return config;
}

/** The smallest square image an architecture takes: below it, a window (resnet_152's 7×7 `ap_final`) has nothing to cover. */
export function minimumImageSize(arch: string): number {
  return Math.max(...minimumInputSize(buildResNet(arch, variant(arch), { tags: 1, imageSize: [1, 1] })));
}

/**
 * `Expected --image-size of at least 193 for resnet_152 but received 64`, naming the option as the caller's
 * user knows it; `received` is the size as they wrote it.
 */
export function expectImageSize(arch: string, [height, width]: readonly [number, number], option: string, received: string): void {
  const minimum = minimumImageSize(arch);
  if (height < minimum || width < minimum) throw new TagbooruError('E_USAGE', `Expected ${option} of at least ${minimum} for ${arch} but received ${received}`);
}

export function buildModel(arch: string, options: ModelOptions): ModelSpec {
  const [height, width] = options.imageSize;
  expectImageSize(arch, options.imageSize, 'imageSize', `[${height}, ${width}]`);
  return buildResNet(arch, variant(arch), options);
}
