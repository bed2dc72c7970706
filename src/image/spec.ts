/**
 * How a bundle's images are prepared: data, not code (DESIGN.md §4). A bundle's `tagger.json` carries one
 * of these; the presets below are the ones the known model families use.
 */
import { TagbooruError, expectNumberInRange } from '../errors.ts';

export type Rgb = readonly [number, number, number];

export interface PreprocessSpec {
  /** Network input size in pixels. */
  readonly width: number;
  readonly height: number;
  /** `strip` drops alpha (TensorFlow's decode_png); `composite` blends over `background`. */
  readonly alpha: 'strip' | 'composite';
  readonly background: Rgb;
  /**
   * `fit-then-pad`: keep aspect, resize to fit, then pad to width×height (DeepDanbooru, Camie).
   * `pad-then-resize`: pad to a centred square first, then resize (WD, JoyTag).
   * `stretch`: resize to width×height ignoring aspect.
   */
  readonly geometry: 'fit-then-pad' | 'pad-then-resize' | 'stretch';
  /**
   * `area-tf` is TensorFlow's ResizeArea with preserve_aspect_ratio rounding; the others are Pillow's BICUBIC,
   * LANCZOS, BILINEAR and NEAREST reproduced exactly (the references prepare images with PIL), with Camie's
   * truncating fit size under `fit-then-pad`.
   */
  readonly resize: 'area-tf' | 'cubic' | 'lanczos3' | 'linear' | 'nearest';
  /** `edge` replicates the border the way skimage's warp(mode="edge") does, half-pixel shift included. */
  readonly pad: 'edge' | 'color';
  readonly padColor: Rgb;
  readonly channelOrder: 'RGB' | 'BGR';
  readonly layout: 'NHWC' | 'NCHW';
  /** value = (pixel · scale − mean[c]) / std[c], pixel in 0–255, c in the output channel order's source RGB index. */
  readonly scale: number;
  readonly mean: Rgb;
  readonly std: Rgb;
}

export type PresetName = 'deepdanbooru' | 'wd' | 'joytag' | 'camie' | 'camie-v2';

const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];
const ZERO: Rgb = [0, 0, 0];
const ONE: Rgb = [1, 1, 1];

/** Presets at their native input size; a bundle overrides width/height from its model. */
export const PRESETS = {
  deepdanbooru: {
    width: 512, height: 512, alpha: 'strip', background: BLACK, geometry: 'fit-then-pad', resize: 'area-tf',
    pad: 'edge', padColor: BLACK, channelOrder: 'RGB', layout: 'NHWC', scale: 1 / 255, mean: ZERO, std: ONE,
  },
  wd: {
    width: 448, height: 448, alpha: 'composite', background: WHITE, geometry: 'pad-then-resize', resize: 'cubic',
    pad: 'color', padColor: WHITE, channelOrder: 'BGR', layout: 'NHWC', scale: 1, mean: ZERO, std: ONE,
  },
  joytag: {
    width: 448, height: 448, alpha: 'composite', background: WHITE, geometry: 'pad-then-resize', resize: 'cubic',
    pad: 'color', padColor: WHITE, channelOrder: 'RGB', layout: 'NCHW', scale: 1 / 255,
    mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711],
  },
  camie: {
    width: 512, height: 512, alpha: 'strip', background: BLACK, geometry: 'fit-then-pad', resize: 'lanczos3',
    pad: 'color', padColor: BLACK, channelOrder: 'RGB', layout: 'NCHW', scale: 1 / 255, mean: ZERO, std: ONE,
  },
  'camie-v2': {
    width: 512, height: 512, alpha: 'composite', background: [124, 116, 104], geometry: 'fit-then-pad', resize: 'lanczos3',
    pad: 'color', padColor: [124, 116, 104], channelOrder: 'RGB', layout: 'NCHW', scale: 1 / 255,
    mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
  },
} as const satisfies Record<PresetName, PreprocessSpec>;

/** A preset by name, optionally at another input size (a bundle's model may take 448 where the family takes 512). */
export function resolvePreset(name: string, size?: { width: number; height: number }): PreprocessSpec {
  if (!Object.hasOwn(PRESETS, name)) {
    throw new TagbooruError('E_USAGE', `Unknown preprocessing preset "${name}". Known: ${Object.keys(PRESETS).join(', ')}`);
  }
  const preset: PreprocessSpec = PRESETS[name as PresetName];
  if (size === undefined) return preset;
  return {
    ...preset,
    width: expectNumberInRange('width', size.width, 1, 65535, true),
    height: expectNumberInRange('height', size.height, 1, 65535, true),
  };
}
