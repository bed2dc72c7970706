/**
 * A decoded image to a network input, following a PreprocessSpec to the sample: alpha, then geometry
 * (resize and pad in the spec's order), then channel order, layout and normalisation.
 */
import { TagbooruError, expectNumberInRange } from '../errors.ts';
import type { DecodedImage } from './decode.ts';
import type { DefenceImage } from './defence.ts';
import { PAD_OFFSET, padColor, padEdge } from './pad.ts';
import type { Raster } from './raster.ts';
import { fitSizeTruncated, resample, resampleNearest, type ConvolutionKernel } from './resample.ts';
import { resizeArea, tfFitSize } from './resize-area.ts';
import type { PreprocessSpec } from './spec.ts';

type Size = { width: number; height: number };

interface Resizer {
  /** The size an image takes inside a `targetWidth × targetHeight` box, aspect kept, rounded as the reference does. */
  readonly fit: (width: number, height: number, targetWidth: number, targetHeight: number) => Size;
  readonly resize: (image: Raster, width: number, height: number) => Raster;
}

function bytes(image: Raster): Raster & { data: Uint8Array } {
  if (image.data instanceof Uint8Array) return image as Raster & { data: Uint8Array };
  // Only edge padding before the resize produces fractional samples, and PIL's kernels work on bytes.
  throw new TagbooruError('E_USAGE', 'Expected pad "color" for geometry "pad-then-resize" with a PIL kernel but received pad "edge"');
}

const convolution = (kernel: ConvolutionKernel): Resizer => ({
  fit: fitSizeTruncated,
  resize: (image, width, height) => resample(bytes(image), width, height, kernel),
});

const RESIZERS: { [K in PreprocessSpec['resize']]: Resizer } = {
  'area-tf': { fit: tfFitSize, resize: resizeArea },
  cubic: convolution('cubic'),
  lanczos3: convolution('lanczos3'),
  linear: convolution('linear'),
  nearest: { fit: fitSizeTruncated, resize: resampleNearest },
};

const PADS: { [K in PreprocessSpec['pad']]: (image: Raster, width: number, height: number, spec: PreprocessSpec) => Raster } = {
  edge: (image, width, height) => padEdge(image, width, height),
  color: (image, width, height, spec) => padColor(image, width, height, spec.padColor),
};

const GEOMETRIES: { [K in PreprocessSpec['geometry']]: (image: Raster, spec: PreprocessSpec) => Raster } = {
  stretch: (image, spec) => RESIZERS[spec.resize].resize(image, spec.width, spec.height),
  'pad-then-resize': (image, spec) => {
    const side = Math.max(image.width, image.height);
    return RESIZERS[spec.resize].resize(PADS[spec.pad](image, side, side, spec), spec.width, spec.height);
  },
  'fit-then-pad': (image, spec) => {
    const { fit, resize } = RESIZERS[spec.resize];
    const size = fit(image.width, image.height, spec.width, spec.height);
    return PADS[spec.pad](resize(image, size.width, size.height), spec.width, spec.height, spec);
  },
};

/** A rectangle in network-input pixels; fractional where a geometry centres by half a pixel. */
export interface ContentRect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

// Where GEOMETRIES put a width × height image: each entry mirrors the one above it.
const CONTENT: { [K in PreprocessSpec['geometry']]: (width: number, height: number, spec: PreprocessSpec) => ContentRect } = {
  stretch: (_w, _h, spec) => ({ x: 0, y: 0, width: spec.width, height: spec.height }),
  'pad-then-resize': (width, height, spec) => {
    const side = Math.max(width, height);
    const [sx, sy] = [spec.width / side, spec.height / side];
    return { x: PAD_OFFSET[spec.pad](width, side) * sx, y: PAD_OFFSET[spec.pad](height, side) * sy, width: width * sx, height: height * sy };
  },
  'fit-then-pad': (width, height, spec) => {
    const size = RESIZERS[spec.resize].fit(width, height, spec.width, spec.height);
    return { x: PAD_OFFSET[spec.pad](size.width, spec.width), y: PAD_OFFSET[spec.pad](size.height, spec.height), width: size.width, height: size.height };
  },
};

/** The rectangle a `width × height` image occupies inside the network input of `spec` (padding excluded). */
export function contentRect(width: number, height: number, spec: PreprocessSpec): ContentRect {
  expectNumberInRange('width', width, 1, 2 ** 31 - 1, true);
  expectNumberInRange('height', height, 1, 2 ** 31 - 1, true);
  return CONTENT[spec.geometry](width, height, spec);
}

/**
 * `composite`: round((c·a + bg·(255 − a)) / 255). The quotient is never exactly half an integer (255 is odd), so
 * no tie rule is involved, and over an opaque background this equals PIL's `alpha_composite` byte for byte.
 */
export function dropAlpha(image: DecodedImage, spec: Pick<PreprocessSpec, 'alpha' | 'background'>): Raster {
  const { data, width, height } = image;
  if (image.channels === 3) return { data, width, height };
  const out = new Uint8Array(width * height * 3);
  const composite = spec.alpha === 'composite';
  const bg = spec.background;
  for (let p = 0, q = 0; q < out.length; p += 4, q += 3) {
    const a = composite ? data[p + 3]! : 255;
    for (let c = 0; c < 3; c++) out[q + c] = a === 255 ? data[p + c]! : Math.round((data[p + c]! * a + bg[c]! * (255 - a)) / 255);
  }
  return { data: out, width, height };
}

/** value = (p · scale − mean[c]) / std[c], c the source RGB channel; BGR writes the channels in reverse. */
function writeTensor(image: Raster, spec: PreprocessSpec, out: Float32Array, offset: number): void {
  const pixels = spec.width * spec.height;
  const order = spec.channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  const { data } = image;
  for (let k = 0; k < 3; k++) {
    const c = order[k]!;
    const [mean, std] = [spec.mean[c]!, spec.std[c]!];
    const base = spec.layout === 'NHWC' ? offset + k : offset + k * pixels;
    const step = spec.layout === 'NHWC' ? 3 : 1;
    if (data instanceof Uint8Array) {
      const table = new Float32Array(256).map((_, p) => (p * spec.scale - mean) / std);
      for (let i = 0; i < pixels; i++) out[base + i * step] = table[data[i * 3 + c]!]!;
    } else {
      for (let i = 0; i < pixels; i++) out[base + i * step] = (data[i * 3 + c]! * spec.scale - mean) / std;
    }
  }
}

/** writeTensor undone: one network input back to RGB bytes (clamped, rounded), for looking at. */
export function inputToRgb(tensor: Float32Array, spec: PreprocessSpec, offset = 0): Uint8Array {
  const pixels = spec.width * spec.height;
  if (tensor.length < offset + pixels * 3) {
    throw new TagbooruError('E_USAGE', `Expected at least ${offset + pixels * 3} floats (offset + width·height·3) for tensor but received ${tensor.length}`);
  }
  const order = spec.channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  const out = new Uint8Array(pixels * 3);
  for (let k = 0; k < 3; k++) {
    const c = order[k]!;
    const [mean, std] = [spec.mean[c]!, spec.std[c]!];
    const base = spec.layout === 'NHWC' ? offset + k : offset + k * pixels;
    const step = spec.layout === 'NHWC' ? 3 : 1;
    for (let i = 0; i < pixels; i++) out[i * 3 + c] = Math.min(255, Math.max(0, Math.round((tensor[base + i * step]! * std + mean) / spec.scale)));
  }
  return out;
}

function checkImage({ data, width, height, channels }: DecodedImage): void {
  expectNumberInRange('image.width', width, 1, 2 ** 31 - 1, true);
  expectNumberInRange('image.height', height, 1, 2 ** 31 - 1, true);
  if (channels !== 3 && channels !== 4) {
    throw new TagbooruError('E_USAGE', `Expected 3 or 4 for image.channels but received ${String(channels)}`);
  }
  if (!(data instanceof Uint8Array) || data.length !== width * height * channels) {
    const received = data instanceof Uint8Array ? `${data.length} bytes` : typeof data;
    throw new TagbooruError('E_USAGE', `Expected ${width * height * channels} bytes (width·height·channels) for image.data but received ${received}`);
  }
}

function checkSpec(spec: PreprocessSpec): void {
  expectNumberInRange('spec.width', spec.width, 1, 65535, true);
  expectNumberInRange('spec.height', spec.height, 1, 65535, true);
}

function checkTarget(spec: PreprocessSpec, out: Float32Array | undefined, offset: number): Float32Array {
  const size = spec.width * spec.height * 3;
  expectNumberInRange('offset', offset, 0, Number.MAX_SAFE_INTEGER, true);
  const target = out ?? new Float32Array(offset + size);
  if (target.length < offset + size) {
    throw new TagbooruError('E_USAGE', `Expected at least ${offset + size} floats (offset + width·height·3) for out but received ${target.length}`);
  }
  return target;
}

/** Write `spec.width · spec.height · 3` floats in `spec.layout` at `out[offset…]`; returns `out`. */
export function preprocess(image: DecodedImage, spec: PreprocessSpec, out?: Float32Array, offset = 0): Float32Array {
  checkImage(image);
  checkSpec(spec);
  const target = checkTarget(spec, out, offset);
  const geometry = GEOMETRIES[spec.geometry](dropAlpha(image, spec), spec);
  writeTensor(geometry, spec, target, offset);
  return target;
}

/**
 * `preprocess` stopped before the channel order, layout and normalisation: RGB HWC at the input size with values
 * in [0, 1], what a defence (defence.ts) transforms. `writeInput` finishes it.
 */
export function preprocessPixels(image: DecodedImage, spec: PreprocessSpec): DefenceImage {
  checkImage(image);
  checkSpec(spec);
  const { data, width, height } = GEOMETRIES[spec.geometry](dropAlpha(image, spec), spec);
  return { data: Float32Array.from(data, (v) => v / 255), width, height };
}

/** [0, 1] RGB HWC pixels at the input size to the network input, as `preprocess` writes it. */
export function writeInput(pixels: DefenceImage, spec: PreprocessSpec, out?: Float32Array, offset = 0): Float32Array {
  checkSpec(spec);
  if (pixels.width !== spec.width || pixels.height !== spec.height || pixels.data.length !== spec.width * spec.height * 3) {
    throw new TagbooruError('E_USAGE', `Expected ${spec.width}×${spec.height}×3 pixels (the model's input) but received ${pixels.width}×${pixels.height} with ${pixels.data.length} values`);
  }
  const target = checkTarget(spec, out, offset);
  writeTensor({ data: pixels.data.map((v) => v * 255), width: pixels.width, height: pixels.height }, spec, target, offset);
  return target;
}
