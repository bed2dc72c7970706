/**
 * The learned de-noiser defence's network (the seed's "de-noise like waifu2x"; DnCNN's residual form, Zhang et
 * al. 2017, at toy size): `depth` 3×3 convolutions with biases, ReLU between them, the last one back to RGB,
 * and the output = input + that residual. No BN, no stride: any image size, and an input gradient as cheap as
 * the forward.
 */
import type { Layer, ModelSpec } from './spec.ts';

export interface DenoiserShape {
  /** Channels of the hidden convolutions. */
  readonly channels: number;
  /** 3×3 convolutions in all (≥ 2). */
  readonly depth: number;
  /** The [height, width] the spec is built at (training patches); the graphs run at any size. */
  readonly imageSize: readonly [number, number];
}

export const DENOISER_ARCHITECTURE = 'denoiser_residual';

export function buildDenoiser({ channels, depth, imageSize }: DenoiserShape): ModelSpec {
  const layers: Layer[] = [{ kind: 'input', name: 'input_1', shape: [imageSize[0], imageSize[1], 3] }];
  let x = 'input_1';
  for (let i = 0; i < depth; i++) {
    const last = i === depth - 1;
    const name = i === 0 ? 'conv2d' : `conv2d_${i}`;
    layers.push({ kind: 'conv', name, input: x, filters: last ? 3 : channels, kernel: [3, 3], strides: [1, 1], padding: 'same', useBias: true });
    x = name;
    if (!last) {
      layers.push({ kind: 'relu', name: `activation_${i}`, input: x });
      x = `activation_${i}`;
    }
  }
  layers.push({ kind: 'add', name: 'residual', inputs: ['input_1', x] });
  return { name: DENOISER_ARCHITECTURE, layers, output: 'residual' };
}
