/**
 * DeepDanbooru's ResNet family (reference/deepdanbooru.md §3): bottleneck blocks with the stride on the 3×3,
 * a projection shortcut on every stage's first block, no conv bias, BN epsilon 1e-3, and a head of
 * 1×1 conv to N tags → global average pool → sigmoid. Variants are data.
 */
import type { Layer, ModelSpec } from './spec.ts';

export interface ResNetConfig {
  /** Output channels per stage; the stem has filters[0]/4 channels, each bottleneck filters[i]/4 inside. */
  readonly filters: readonly number[];
  /** Identity blocks after each stage's projection block. */
  readonly repeats: readonly number[];
  /** `conv-gap`: DeepDanbooru v1–v4 head; `avgpool-dense`: resnet_152's ap_final → Flatten → Dense. */
  readonly head: 'conv-gap' | 'avgpool-dense';
  readonly note: string;
}

export const RESNET_VARIANTS = {
  resnet_custom_v1: { filters: [256, 512, 1024, 2048, 4096], repeats: [2, 7, 35, 2, 2], head: 'conv-gap', note: 'web model until 2019/04/20: short, wide' },
  resnet_custom_v2: { filters: [256, 512, 1024, 1024, 1024, 2048], repeats: [2, 7, 40, 16, 16, 6], head: 'conv-gap', note: 'blazing-deep, narrow; the project default' },
  resnet_custom_v3: { filters: [256, 512, 1024, 1024, 2048, 4096], repeats: [2, 7, 19, 19, 2, 2], head: 'conv-gap', note: 'released v3 models' },
  resnet_custom_v4: { filters: [256, 512, 1024, 1024, 1024, 2048], repeats: [2, 7, 10, 10, 10, 2], head: 'conv-gap', note: 'released v4: about half of v3' },
  resnet_152: { filters: [256, 512, 1024, 2048], repeats: [2, 7, 35, 2], head: 'avgpool-dense', note: 'ResNet-152 layout with a dense head' },
  /** v4's depth at a quarter of its width: trains on a CPU at 224². */
  resnet_custom_v4_narrow: { filters: [64, 128, 256, 256, 256, 512], repeats: [2, 7, 10, 10, 10, 2], head: 'conv-gap', note: 'v4 depth, 1/4 width' },
  /** A shallow, narrow member of the family for CPU training at 128–256 px. */
  resnet_custom_narrow: { filters: [64, 128, 256, 512], repeats: [1, 2, 2, 1], head: 'conv-gap', note: 'CPU training at 128–256 px' },
  /** The bundled default model: four stages at an eighth of v4's width (see training/default-model). */
  resnet_custom_mini: { filters: [32, 64, 128, 256], repeats: [1, 1, 2, 1], head: 'conv-gap', note: 'the bundled default model' },
  /** Test variants: a full family topology at toy width. */
  test_tiny: { filters: [8, 16], repeats: [1, 1], head: 'conv-gap', note: 'tests' },
  test_tiny_dense: { filters: [8, 16], repeats: [0, 1], head: 'avgpool-dense', note: 'tests: resnet_152 head' },
  test_small: { filters: [16, 32, 32, 64], repeats: [1, 1, 1, 1], head: 'conv-gap', note: 'tests: four stages' },
} as const satisfies Record<string, ResNetConfig>;

export type ResNetName = keyof typeof RESNET_VARIANTS;

/** Keras auto-names layers per class in creation order: conv2d, conv2d_1, … */
class Namer {
  private readonly counts = new Map<string, number>();
  next(base: string): string {
    const n = this.counts.get(base) ?? 0;
    this.counts.set(base, n + 1);
    return n === 0 ? base : `${base}_${n}`;
  }
}

export interface ResNetOptions {
  readonly tags: number;
  readonly imageSize: readonly [height: number, width: number];
}

export function buildResNet(name: string, config: ResNetConfig, { tags, imageSize }: ResNetOptions): ModelSpec {
  const layers: Layer[] = [];
  const names = new Namer();
  const push = (layer: Layer) => (layers.push(layer), layer.name);
  const convBn = (x: string, filters: number, k: number, s: number, zeroGamma = false) => {
    const conv = push({ kind: 'conv', name: names.next('conv2d'), input: x, filters, kernel: [k, k], strides: [s, s], padding: 'same', useBias: false });
    return push({ kind: 'bn', name: names.next('batch_normalization'), input: conv, epsilon: 1e-3, momentum: 0.99, zeroGamma });
  };
  const relu = (x: string) => push({ kind: 'relu', name: names.next('activation'), input: x });
  const block = (x: string, filters: number, stride: number, project: boolean) => {
    const a = relu(convBn(x, filters / 4, 1, 1));
    const b = relu(convBn(a, filters / 4, 3, stride));
    const c = convBn(b, filters, 1, 1, true);
    const shortcut = project ? convBn(x, filters, 1, stride) : x;
    return relu(push({ kind: 'add', name: names.next('add'), inputs: [c, shortcut] }));
  };

  let x = push({ kind: 'input', name: 'input_1', shape: [imageSize[0], imageSize[1], 3] });
  x = relu(convBn(x, config.filters[0]! / 4, 7, 2));
  x = push({ kind: 'maxpool', name: names.next('max_pooling2d'), input: x, pool: [3, 3], strides: [2, 2], padding: 'same' });
  config.filters.forEach((filters, i) => {
    x = block(x, filters, i === 0 ? 1 : 2, true);
    for (let r = 0; r < config.repeats[i]!; r++) x = block(x, filters, 1, false);
  });

  if (config.head === 'conv-gap') {
    x = push({ kind: 'conv', name: names.next('conv2d'), input: x, filters: tags, kernel: [1, 1], strides: [1, 1], padding: 'same', useBias: false });
    x = push({ kind: 'gap', name: names.next('global_average_pooling2d'), input: x });
  } else {
    x = push({ kind: 'avgpool', name: 'ap_final', input: x, pool: [7, 7], strides: [7, 7], padding: 'valid' });
    x = push({ kind: 'flatten', name: names.next('flatten'), input: x });
    x = push({ kind: 'dense', name: names.next('dense'), input: x, units: tags, useBias: true });
  }
  x = push({ kind: 'sigmoid', name: names.next('activation'), input: x });
  return { name, layers, output: x };
}
