/**
 * The HTTP API's JSON shapes, shared by the server that writes them and the web UI that reads them (type-only:
 * nothing here runs). docs and README describe the same fields.
 */
import type { ExplainMethod } from './explain/types.ts';
import type { PreprocessSpec } from './image/spec.ts';
import type { Thresholds } from './infer/bundle.ts';

/** A tag with its score: four decimals among selected tags, the exact float32 in `scores`. */
export interface WireTag {
  readonly name: string;
  readonly category: string;
  readonly score: number;
}

/** `POST /v1/tag`: one result per uploaded file, in order. */
export interface TagResponse {
  readonly model: string;
  readonly results: readonly TagResultJson[];
}

export interface TagResultJson {
  readonly file: string;
  readonly tags: readonly WireTag[];
  readonly rating: { readonly name: string; readonly score: number } | null;
  readonly error: string | null;
  /** Every score at or above the `floor` field, highest first, when one was given. */
  readonly scores?: readonly WireTag[];
  /** The caption text, when a caption field asked for it (`null` for an image in error). */
  readonly caption?: string | null;
  /** How foreign the image is to the model, when the bundle has a fitted out-of-distribution score. */
  readonly ood?: OodJson;
}

/** `flagged`: the score is above the threshold fitted on the model's own data (docs/robustness.md). */
export interface OodJson {
  readonly score: number;
  readonly threshold: number;
  readonly flagged: boolean;
}

/** An entry of `GET /v1/models`. */
export interface ModelInfo {
  readonly id: string;
  readonly name: string;
  readonly architecture?: string | null;
  readonly tags: number;
  readonly categories?: Readonly<Record<string, number>>;
  readonly thresholds?: Thresholds;
  readonly preprocess?: PreprocessSpec;
  /** The explain methods this model offers (older servers: absent). */
  readonly explain?: readonly ExplainMethod[];
  /** Where it runs: a model offered to the browser only lacks `server` (older servers: absent, both). */
  readonly runs?: readonly ('server' | 'browser')[];
  readonly files: { readonly manifest: string; readonly model: string };
  /** Its fitted out-of-distribution score for a client running the model itself (absent without a fit, and from older servers). */
  readonly ood?: OodModelInfo;
}

/**
 * `model`: the URL of model.onnx with one more output, `output` ([N, 1]), the server's OOD score computed in the
 * graph; an image is flagged when it is above `threshold`.
 */
export interface OodModelInfo {
  readonly method: string;
  readonly output: string;
  readonly threshold: number;
  readonly model: string;
}

/** One tag's region on the wire; `map` is a grey PNG data URL at map resolution (0 = none, 255 = the maximum). */
export interface RegionJson {
  readonly name: string;
  readonly category: string;
  readonly score: number;
  readonly threshold: number;
  readonly box: readonly [number, number, number, number] | null;
  readonly peak: readonly [number, number];
  readonly map: string;
}

/** `POST /v1/explain` as JSON (the route adds `model`). */
export interface ExplainJson {
  readonly file: string;
  readonly method: string;
  readonly width: number;
  readonly height: number;
  readonly scale: readonly [number, number];
  readonly map: { readonly width: number; readonly height: number };
  readonly tags: RegionJson[];
}
