/**
 * Where is the tag? The shared vocabulary of the localisation methods (step 7): every method turns one image
 * and some tags into one map per tag; post-processing turns a map into a mask, a box and a peak.
 */

export const EXPLAIN_METHODS = ['cam', 'gradcam', 'scorecam', 'saliency'] as const;
export type ExplainMethod = (typeof EXPLAIN_METHODS)[number];

/**
 * How a map is brought to the image's edges after upsampling: not at all, by the colour guided filter, or by
 * averaging it over the image's regions of near-uniform colour (segments.ts).
 */
export const EXPLAIN_REFINEMENTS = ['none', 'guided', 'segments'] as const;
export type ExplainRefinement = (typeof EXPLAIN_REFINEMENTS)[number];

/** A single-channel float map, row-major. */
export interface FloatMap {
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
}

/** [x0, y0, x1, y1], x1/y1 exclusive, in the pixel coordinates of the map or image it refers to. */
export type Box = readonly [x0: number, y0: number, x1: number, y1: number];

export interface TagRegion {
  readonly name: string;
  readonly category: string;
  /** The tag's probability on this image. */
  readonly score: number;
  /**
   * The map over the image content (padding cropped away) at network-input resolution, scaled to [0, 1] by
   * its maximum (all zero when the method found no positive evidence). Its width/height relate to the
   * original image by `ExplainResult.scale`.
   */
  readonly map: FloatMap;
  /** Map pixels ≥ `threshold` (1 = in the region), same size as `map`. */
  readonly mask: Uint8Array;
  /** The threshold (relative to the map maximum) that made `mask`. */
  readonly threshold: number;
  /** The mask's bounding box in original image pixels; null when the mask is empty. */
  readonly box: Box | null;
  /** The map maximum in original image pixels (the pointing-game point). */
  readonly peak: readonly [x: number, y: number];
  /**
   * With `keepInput`: the map over the whole network input (padding included), scaled to [0, 1] by its maximum;
   * for saliency the three-channel gradient map (interleaved RGB), as DeepDanbooru's grad-cam draws it.
   */
  readonly inputMap?: FloatMap & { readonly channels: 1 | 3 };
}

export interface ExplainResult {
  readonly file: string;
  readonly method: ExplainMethod;
  /** The original (decoded, EXIF-oriented) image size. */
  readonly width: number;
  readonly height: number;
  /** Original pixels per map pixel, per axis (map.width · scale[0] ≈ width). */
  readonly scale: readonly [x: number, y: number];
  readonly tags: TagRegion[];
  readonly error: string | null;
  /** With `keepInput`: the network input as RGB bytes, and where the image content lies in it. */
  readonly input?: { readonly width: number; readonly height: number; readonly rgb: Uint8Array; readonly content: Box };
}

export interface ExplainOptions {
  /**
   * Tags to explain, in any form the selection accepts (`long_hair`, `long hair`). Default: the tags the
   * bundle's thresholds select on this image, minus those that have no place (see placeless.ts).
   */
  readonly tags?: readonly string[];
  readonly method?: ExplainMethod;
  /** Also explain tags that have no place in the image (ratings, meta, composition such as `solo`). */
  readonly includePlaceless?: boolean;
  /**
   * `guided`: refine each map under the image with the colour guided filter (He et al. 2010), so regions end
   * at the image's edges rather than at the 32-px cells of a stride-32 map (default `none`).
   */
  readonly refine?: ExplainRefinement;
  /**
   * cam: the map's stride in input pixels, finer than the model's own (32 for resnet_custom): the last
   * downsamplings are undone and the layers after them dilated, so the map keeps the exact CAM on the model's
   * cells and adds the network's own values between them (dense.ts). Costs those layers again per halving.
   */
  readonly mapStride?: number;
  /** Mask threshold relative to each map's maximum, 0–1 (default 0.5). */
  readonly maskThreshold?: number;
  /** Score-CAM: how many activation channels to use, the strongest first (default: all). */
  readonly scorecamChannels?: number;
  /** Score threshold for the default tags, in place of the bundle's thresholds (0–1). */
  readonly threshold?: number;
  /** Also return the network input and each map over it (`ExplainResult.input`, `TagRegion.inputMap`). */
  readonly keepInput?: boolean;
}
