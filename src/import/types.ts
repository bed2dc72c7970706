/** What every format importer receives and returns. */
import path from 'node:path';
import type { BundleManifest } from '../infer/bundle.ts';
import type { ModelSpec, Weights } from '../models/spec.ts';

export const FORMATS = ['deepdanbooru', 'deepdanbooru-onnx', 'wd', 'joytag', 'camie'] as const;
export type ImportFormat = (typeof FORMATS)[number];

export interface ImportOptions {
  /** Store name; default: derived from the source's file or folder name. */
  readonly name?: string;
  /** Skip detection. */
  readonly format?: ImportFormat;
  /** Replace a stored model of the same name. */
  readonly force?: boolean;
  /** For models whose input size is open: [height, width]. */
  readonly imageSize?: readonly [number, number];
  /** Recorded in the manifest over the defaults, e.g. where a pulled model was downloaded from. */
  readonly provenance?: Readonly<Record<string, unknown>>;
  /** Told about each stage of a long import (`reading model-resnet_custom_v3.h5`, …). */
  readonly onStep?: (message: string) => void;
  /** Most bytes extracted from archives (a zip, a `.keras`); default `DEFAULT_EXTRACT_LIMIT` (8 GiB). */
  readonly maxExtractBytes?: number;
}

/** The files of one model: a folder (a release folder, an extracted zip) and, when known, the model file. */
export interface Source {
  /** What the user named, absolute. */
  readonly origin: string;
  readonly dir: string;
  /** File names in `dir`. */
  readonly files: readonly string[];
  /** The model file, when the user named it or the folder has exactly one candidate. */
  readonly model?: string;
  /** Brings one of `files` into `dir` before it is read: an archive extracts only the entries an importer reads. */
  readonly fetch?: (name: string) => Promise<void>;
}

/** The local path of one of the source's files, fetched from its archive on first use. */
export async function sourceFile(source: Source, name: string): Promise<string> {
  await source.fetch?.(name);
  return path.join(source.dir, name);
}

export interface ImportContext {
  readonly options: ImportOptions;
  /** A scratch folder inside the store's staging area. */
  work(name: string): string;
  step(message: string): void;
}

/** A bundle minus the fields the store fills in (format header, name, model file name). */
export interface Draft {
  /** Provenance format id: `deepdanbooru-h5`, `wd`, `camie-v2`, … */
  readonly format: string;
  readonly architecture?: string;
  /** The ONNX model: bytes to write, or a file to copy as is. */
  readonly model: { readonly bytes: Uint8Array } | { readonly copy: string };
  readonly input: BundleManifest['input'];
  readonly output: BundleManifest['output'];
  readonly preset: BundleManifest['preset'];
  readonly preprocess: BundleManifest['preprocess'];
  readonly tags: BundleManifest['tags'];
  readonly thresholds: BundleManifest['thresholds'];
  readonly provenance: Readonly<Record<string, unknown>>;
  /**
   * The unfolded model, when the source has one (Keras): written as weights.safetensors and spec.json, so
   * gradcam and saliency can run and train-project can start from it.
   */
  readonly training?: { readonly spec: ModelSpec; readonly weights: Weights };
}

export type Importer = (source: Source, ctx: ImportContext) => Promise<Draft>;
