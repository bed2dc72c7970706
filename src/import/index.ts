/**
 * `importModel(path)`: turn a model people already have into a bundle in the store. The source may be a
 * folder, a zip of one, or the model file itself (its label files beside it). The format is recognised
 * from the files present; each format has one importer. A zip is listed, not unpacked: an importer's
 * reads extract the entries it needs. Everything is assembled in a staging folder inside the store and
 * renamed into place last.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagbooruError } from '../errors.ts';
import { BUNDLE_FORMAT, BUNDLE_VERSION, MANIFEST, SPEC_FILE, WEIGHTS_FILE, readBundle, type Bundle, type BundleManifest } from '../infer/bundle.ts';
import { variables } from '../models/shapes.ts';
import { encodeSpec } from '../models/spec-file.ts';
import { encodeWeights } from '../formats/safetensors.ts';
import { camieMetadataFiles, importCamie } from './camie.ts';
import { importDeepDanbooru } from './deepdanbooru.ts';
import { importDeepDanbooruOnnx } from './deepdanbooru-onnx.ts';
import { importJoyTag } from './joytag.ts';
import { Staging, defaultName, findStoredModel, validateName } from './store.ts';
import { FORMATS, type Draft, type ImportFormat, type ImportOptions, type Importer, type Source } from './types.ts';
import { importWd } from './wd.ts';
import { DEFAULT_EXTRACT_LIMIT, listZip, extractZip } from './zip.ts';

export { FORMATS, type ImportFormat, type ImportOptions } from './types.ts';
export { DEFAULT_EXTRACT_LIMIT } from './zip.ts';
export { listModels, storeHome, modelsRoot, findStoredModel, removeModel, type StoredModel } from './store.ts';
export { pullModel, type PullOptions, type PullResult } from './pull.ts';
export { KNOWN_MODELS, type KnownModel } from './known-models.ts';

const IMPORTERS: { [K in ImportFormat]: Importer } = {
  deepdanbooru: importDeepDanbooru,
  'deepdanbooru-onnx': importDeepDanbooruOnnx,
  wd: importWd,
  joytag: importJoyTag,
  camie: importCamie,
};

/** `.h5.e28`: DeepDanbooru's per-epoch exports before Keras 3. */
const MODEL_FILE = /\.(h5|keras|onnx|h5\.e\d+)$/i;
const KERAS_FILE = /\.(h5|keras|h5\.e\d+)$/i;

async function filesIn(dir: string): Promise<string[]> {
  return (await fs.readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
}

/** A folder holding no model but one folder is a wrapper (a zip made of a folder): the model is inside. */
const isWrapper = (files: readonly string[], folders: readonly string[]) => !files.some((f) => MODEL_FILE.test(f)) && folders.length === 1;

async function folderSource(origin: string, dir: string): Promise<Source> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => e.name).sort();
  const dirs = entries.filter((e) => e.isDirectory()).map((e) => e.name);
  if (isWrapper(files, dirs)) return folderSource(origin, path.join(dir, dirs[0]!));
  return { origin, dir, files };
}

/** A zip as a folder listing; each file is extracted into `root` when an importer first reads it. */
async function archiveSource(origin: string, root: string, limit: number): Promise<Source> {
  const names = (await listZip(origin)).map((e) => e.name);
  let prefix = '';
  for (;;) {
    const inside = names.filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length));
    const files = inside.filter((n) => !n.includes('/')).sort();
    const folders = [...new Set(inside.filter((n) => n.includes('/')).map((n) => n.slice(0, n.indexOf('/'))))];
    if (isWrapper(files, folders)) {
      prefix += `${folders[0]!}/`;
      continue;
    }
    const budget = { limit, used: 0 };
    const fetched = new Map<string, Promise<unknown>>();
    const fetch = async (name: string) => {
      const entry = prefix + name;
      if (!fetched.has(entry)) fetched.set(entry, extractZip(origin, root, { only: (n) => n === entry, budget }));
      await fetched.get(entry);
    };
    return { origin, dir: path.join(root, prefix), files, fetch };
  }
}

async function resolveSource(origin: string, staging: Staging, options: ImportOptions): Promise<Source> {
  const st = await fs.stat(origin).catch(() => null);
  if (!st) throw new TagbooruError('E_USAGE', `${origin}: no such file or folder`);
  if (st.isDirectory()) return folderSource(origin, origin);
  if (!st.isFile()) throw new TagbooruError('E_USAGE', `${origin}: not a regular file`);
  if (/\.zip$/i.test(origin)) {
    options.onStep?.(`reading ${path.basename(origin)}`);
    return archiveSource(origin, staging.work('source'), options.maxExtractBytes ?? DEFAULT_EXTRACT_LIMIT);
  }
  if (MODEL_FILE.test(origin)) return { origin, dir: path.dirname(origin), files: await filesIn(path.dirname(origin)), model: origin };
  throw new TagbooruError('E_USAGE', `${origin}: expected a model folder, a .zip, or a .h5, .keras or .onnx file`);
}

/** Which importer a source needs, from the files it has. */
export function detectFormat(source: Source): ImportFormat {
  const has = (name: string) => source.files.includes(name);
  const model = source.model ? path.basename(source.model) : undefined;
  if (model ? KERAS_FILE.test(model) : source.files.some((f) => KERAS_FILE.test(f))) return 'deepdanbooru';
  if (model || source.files.some((f) => /\.onnx$/i.test(f))) {
    if (has('selected_tags.csv')) return 'wd';
    if (has('top_tags.txt')) return 'joytag';
    if (camieMetadataFiles(source.files).length > 0) return 'camie';
    if (has('tags.txt')) return 'deepdanbooru-onnx';
    throw new TagbooruError('E_MODEL', `${source.dir} has an ONNX model but no label file it recognises: selected_tags.csv (WD), top_tags.txt (JoyTag), *metadata.json (Camie) or tags.txt (DeepDanbooru)`);
  }
  throw new TagbooruError('E_MODEL', `${source.dir} holds no model tagbooru can import (found ${source.files.slice(0, 8).join(', ') || 'no files'}); expected a DeepDanbooru release (model-*.h5 / .keras + tags.txt), or an .onnx with its label file`);
}

async function writeDraft(dir: string, name: string, origin: string, draft: Draft, stated: ImportOptions['provenance']): Promise<Bundle> {
  await fs.mkdir(dir, { recursive: true });
  const modelPath = path.join(dir, 'model.onnx');
  if ('bytes' in draft.model) await fs.writeFile(modelPath, draft.model.bytes);
  else await fs.copyFile(draft.model.copy, modelPath);
  const { training } = draft;
  if (training) {
    await fs.writeFile(path.join(dir, WEIGHTS_FILE), encodeWeights(variables(training.spec), training.weights));
    await fs.writeFile(path.join(dir, SPEC_FILE), encodeSpec(training.spec));
  }
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    name,
    ...(draft.architecture && { architecture: draft.architecture }),
    model: 'model.onnx',
    ...(training && { weights: WEIGHTS_FILE, spec: SPEC_FILE }),
    input: draft.input,
    output: draft.output,
    preset: draft.preset,
    preprocess: draft.preprocess,
    tags: draft.tags,
    thresholds: draft.thresholds,
    provenance: { format: draft.format, source: origin, ...draft.provenance, importedBy: 'tagbooru import', importedAt: new Date().toISOString(), ...stated },
  };
  // the manifest last: a bundle without one is never mistaken for a complete model
  await fs.writeFile(path.join(dir, MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`);
  return readBundle(dir);
}

export interface ImportResult {
  readonly name: string;
  readonly dir: string;
  readonly manifest: BundleManifest;
  readonly format: string;
}

export async function importModel(source: string, options: ImportOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<ImportResult> {
  const origin = path.resolve(source);
  const name = validateName(options.name ?? defaultName(origin));
  if (!options.force && findStoredModel(name, env)) {
    throw new TagbooruError('E_USAGE', `the store already has a model named "${name}"; pass --force to replace it or --name to choose another`);
  }
  if (options.format && !(FORMATS as readonly string[]).includes(options.format)) {
    throw new TagbooruError('E_USAGE', `Expected one of ${FORMATS.join(', ')} for format but received "${options.format}"`);
  }
  const staging = await Staging.create(env);
  try {
    const src = await resolveSource(origin, staging, options);
    const format = options.format ?? detectFormat(src);
    const step = (m: string) => options.onStep?.(m);
    step(`format: ${format}${options.format ? '' : ' (detected)'}`);
    const draft = await IMPORTERS[format](src, { options, work: (n) => staging.work(n), step });
    step('writing the bundle');
    const bundle = await writeDraft(staging.bundleDir, name, origin, draft, options.provenance);
    const dir = await staging.commit(name, options.force ?? false);
    return { name, dir, manifest: bundle.manifest, format: draft.format };
  } finally {
    await staging.discard();
  }
}
