/**
 * A model bundle is a folder: `model.onnx` plus `tagger.json` (tags with categories, preprocessing,
 * default thresholds, provenance). Everything downstream reads sizes and thresholds from here.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagbooruError, errorMessage } from '../errors.ts';
import { writeAtomic } from '../atomic-files.ts';
import { PRESETS, type PreprocessSpec, type PresetName } from '../image/spec.ts';
import { validateCalibration, type CalibrationManifest } from './calibration.ts';
import type { OodManifest } from './ood.ts';

export const BUNDLE_FORMAT = 'tagbooru-bundle';
export const BUNDLE_VERSION = 1;
export const MANIFEST = 'tagger.json';
/** The training variables before BN folding, as train-project and `tagbooru import` of .h5/.keras write them. */
export const WEIGHTS_FILE = 'weights.safetensors';
/** The layer DAG of `weights` (src/models/spec-file.ts), for a model that is not a registered architecture. */
export const SPEC_FILE = 'spec.json';

export interface TagInfo {
  readonly name: string;
  /** `general`, `character`, `rating`, `copyright`, `artist`, `meta`, … */
  readonly category: string;
}

export interface Thresholds {
  readonly default: number;
  readonly categories?: Readonly<Record<string, number>>;
  readonly tags?: Readonly<Record<string, number>>;
}

export interface BundleManifest {
  readonly format: typeof BUNDLE_FORMAT;
  readonly version: number;
  readonly name: string;
  readonly architecture?: string;
  readonly model: string;
  readonly input: { readonly name: string; readonly batch: number | 'dynamic' };
  readonly output: { readonly name: string; readonly activation: 'sigmoid' | 'logits' };
  readonly preset: PresetName | 'custom';
  readonly preprocess: PreprocessSpec;
  readonly tags: readonly TagInfo[];
  readonly thresholds: Thresholds;
  readonly provenance: Readonly<Record<string, unknown>>;
  /** Training variables before BN folding (safetensors), so the bundle can be fine-tuned and run gradcam / saliency. */
  readonly weights?: string;
  /** The layer DAG of `weights` (imported Keras graphs); without it `architecture` is rebuilt by name. */
  readonly spec?: string;
  /** The out-of-distribution score fitted on the training data (src/infer/ood.ts), if any. */
  readonly ood?: OodManifest;
  /**
   * Every graph input with its own preprocessing, when there is more than one (an ensemble of members that
   * read images differently); the first is `input` and `preprocess`. Absent: the one input above.
   */
  readonly inputs?: readonly ModelInput[];
  /** The members this bundle's graph combines (src/compose/ensemble.ts), when it is an ensemble. */
  readonly ensemble?: EnsembleManifest;
  /** The test-time augmentation views baked into the graph (src/compose/tta.ts), if any. */
  readonly tta?: TtaManifest;
  /** Per-tag calibration of the scores, fitted by `tagbooru calibrate` (src/infer/calibration.ts), if any. */
  readonly calibration?: CalibrationManifest;
  /** An input-transformation defence the runtime applies before normalisation (src/infer/defences.ts), e.g. `jpeg:quality=75`. */
  readonly defence?: string;
}

export interface ModelInput {
  readonly name: string;
  readonly preprocess: PreprocessSpec;
}

/** How members' scores become one: a mean of logits or of probabilities, a weighted mean, or one member drawn per image. */
export type CombineMode = 'logit-mean' | 'prob-mean' | 'weighted' | 'random';

export interface EnsembleMember {
  readonly name: string;
  readonly architecture: string | null;
  readonly width: number;
  readonly height: number;
  readonly tags: number;
  /** The member's weight in the combination, normalised over all members (before per-tag renormalisation). */
  readonly weight: number;
  /** The folder it was read from when the ensemble was built. */
  readonly source: string;
  /** Which of the bundle's `inputs` (or the one input) this member reads. */
  readonly input: string;
  readonly provenance: Readonly<Record<string, unknown>>;
  /**
   * The member's own output in the ensemble's graph (renamed under its prefix), so that it can be run alone
   * (explain: a map per member). Absent in ensembles written before it was recorded.
   */
  readonly output?: { readonly name: string; readonly activation: 'sigmoid' | 'logits' };
  /** For each of the member's own tags, in its order, that tag's index in the bundle's `tags` (with `output`). */
  readonly tagIndices?: readonly number[];
}

export interface EnsembleManifest {
  readonly combine: CombineMode;
  readonly members: readonly EnsembleMember[];
  /**
   * `random`: the output holding each member's probabilities [batch, members, tags] (a tag a member does not
   * know holds the mean of the members that do); the runtime draws one member per image from it.
   */
  readonly memberOutput?: string;
}

export interface TtaManifest {
  readonly flip: boolean;
  readonly scales: readonly number[];
  /** Views per image, the original included: the graph runs batch × views images. */
  readonly views: number;
  readonly combine: CombineMode;
  /**
   * Tiles (src/compose/tta.ts): a tag named in `fit` combines the image's and the highest tile's logits with its
   * fitted weights; any other takes the higher of the two scores, but `wholeImageTags`, which keep the image's.
   */
  readonly tiles?: TtaTiles;
}

export interface TtaTiles {
  readonly grid: number;
  readonly size: number;
  readonly wholeImageTags: readonly string[];
  readonly fit?: { readonly tags: Readonly<Record<string, readonly [whole: number, tile: number, bias: number]>>; readonly provenance: Readonly<Record<string, unknown>> };
}

export interface Bundle {
  readonly dir: string;
  readonly manifest: BundleManifest;
  readonly modelPath: string;
  /** A graph built in memory from model.onnx (`tag --tta`), run instead of the file. */
  readonly model?: Uint8Array;
}

export function presetSpec(preset: PresetName, size: { width: number; height: number }): PreprocessSpec {
  return { ...PRESETS[preset], ...size };
}

export async function writeBundle(dir: string, manifest: BundleManifest, model: Uint8Array): Promise<Bundle> {
  await fs.mkdir(dir, { recursive: true });
  // write the model first and the manifest last, so a half-written bundle never looks complete
  const modelPath = path.join(dir, manifest.model);
  await writeAtomic(modelPath, model);
  await writeAtomic(path.join(dir, MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`);
  return { dir, manifest, modelPath };
}

export async function readBundle(dir: string): Promise<Bundle> {
  const file = path.join(dir, MANIFEST);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new TagbooruError('E_BUNDLE', `${dir} is not a model bundle: cannot read ${MANIFEST} (${errorMessage(e)})`, { cause: e });
  }
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(text) as BundleManifest;
  } catch (e) {
    throw new TagbooruError('E_BUNDLE', `${file} is not valid JSON: ${errorMessage(e)}`, { cause: e });
  }
  validateManifest(manifest, file);
  const modelPath = path.join(dir, manifest.model);
  try {
    await fs.access(modelPath);
  } catch {
    throw new TagbooruError('E_BUNDLE', `${file} names ${manifest.model}, which does not exist in ${dir}`);
  }
  return { dir, manifest, modelPath };
}

function validateManifest(m: BundleManifest, file: string): void {
  const fail = (what: string) => {
    throw new TagbooruError('E_BUNDLE', `${file}: ${what}`);
  };
  if ((m.format as string) !== BUNDLE_FORMAT) fail(`format must be "${BUNDLE_FORMAT}"`);
  if (!(m.version <= BUNDLE_VERSION)) fail(`version ${String(m.version)} is newer than this tagbooru reads (${BUNDLE_VERSION})`);
  if (!Array.isArray(m.tags) || m.tags.length === 0) fail('tags must be a non-empty array');
  if (!m.preprocess || !(m.preprocess.width > 0) || !(m.preprocess.height > 0)) fail('preprocess.width and preprocess.height are required');
  if (!m.input?.name || !m.output?.name) fail('input.name and output.name are required');
  if (typeof m.thresholds?.default !== 'number') fail('thresholds.default must be a number');
  if (m.inputs !== undefined) {
    const inputs: readonly Partial<ModelInput>[] = Array.isArray(m.inputs) ? m.inputs : [];
    if (inputs.length === 0 || inputs.some((i) => !i.name || !(Number(i.preprocess?.width) > 0) || !(Number(i.preprocess?.height) > 0))) {
      fail('inputs must be a non-empty array of { name, preprocess } with preprocess.width and preprocess.height');
    }
    if (inputs[0]!.name !== m.input.name) fail(`inputs[0].name must be input.name (${m.input.name})`);
  }
  if (m.calibration !== undefined) validateCalibration(m.calibration, m.tags.map((t) => t.name), file);
  if (m.defence !== undefined && (typeof m.defence !== 'string' || m.defence.trim() === '')) fail('defence must be a defence spec such as "jpeg:quality=75"');
  for (const [key, example] of [['weights', WEIGHTS_FILE], ['spec', SPEC_FILE]] as const) {
    const v: unknown = m[key];
    if (v !== undefined && !isBundleFile(v)) fail(`${key} must be the name of a file inside the bundle, such as "${example}"`);
  }
}

/** A file the manifest names (weights, spec), read whole; a missing or unreadable one names the manifest. */
export async function readBundleFile(bundle: Bundle, name: string): Promise<Uint8Array> {
  try {
    return await fs.readFile(path.join(bundle.dir, name));
  } catch (e) {
    throw new TagbooruError('E_BUNDLE', `${path.join(bundle.dir, MANIFEST)} names ${name}, which cannot be read (${errorMessage(e)})`, { cause: e });
  }
}

/** A relative path that stays inside the bundle folder. */
function isBundleFile(v: unknown): boolean {
  return typeof v === 'string' && v !== '' && !path.isAbsolute(v) && !v.split(/[\\/]/).includes('..');
}
