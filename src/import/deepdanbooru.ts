/**
 * A DeepDanbooru release or project folder (reference/deepdanbooru.md §6): `model-resnet_custom_v*.h5`
 * (legacy Keras HDF5) or `.keras` (Keras 3), `tags.txt` (line index = output index), `categories.json`
 * (General / Character / System ranges) and `project.json` (input size). The graph is rebuilt from the
 * model's own config, BN is folded, and the result is exported as an inference graph.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagbooruError, errorMessage } from '../errors.ts';
import { presetSpec } from '../infer/bundle.ts';
import { DEFAULT_INPUT, DEFAULT_OUTPUT, exportInference } from '../models/export.ts';
import { inferShapes, parameterCount } from '../models/shapes.ts';
import { inputLayer } from '../models/spec.ts';
import { readKerasH5 } from './keras-h5.ts';
import { readKeras3 } from './keras3.ts';
import { applyCategories, readTagsFile } from '../infer/tags-file.ts';
import { sha256File } from './onnx-model.ts';
import { sourceFile, type Draft, type ImportContext, type Source } from './types.ts';

export interface Project {
  readonly model?: string;
  readonly imageSize?: readonly [number, number];
  readonly raw: Readonly<Record<string, unknown>>;
}

export async function readProject(source: Source): Promise<Project | null> {
  if (!source.files.includes('project.json')) return null;
  const file = await sourceFile(source, 'project.json');
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new TagbooruError('E_MODEL', `${file} is not valid JSON: ${errorMessage(e)}`, { cause: e });
  }
  const { image_width: w, image_height: h, model } = raw;
  return {
    model: typeof model === 'string' ? model : undefined,
    imageSize: Number.isInteger(w) && Number.isInteger(h) ? [h as number, w as number] : undefined,
    raw,
  };
}

/** The Keras model file of a folder: the one project.json names (`.keras` before `.h5`, as DeepDanbooru loads), else the only one. */
export async function pickKerasModel(source: Source, project: Project | null): Promise<string> {
  if (source.model) return source.model;
  if (project?.model) {
    for (const ext of ['.keras', '.h5']) {
      const name = `model-${project.model}${ext}`;
      if (source.files.includes(name)) return sourceFile(source, name);
    }
  }
  const candidates = source.files.filter((f) => /\.(h5|keras)$/i.test(f));
  if (candidates.length === 1) return sourceFile(source, candidates[0]!);
  if (candidates.length === 0) throw new TagbooruError('E_MODEL', `${source.dir} has no Keras model (model-<arch>.h5 or .keras)`);
  throw new TagbooruError('E_USAGE', `${source.dir} has several Keras models (${candidates.join(', ')}); name the one to import`);
}

async function requireFile(source: Source, name: string, why: string): Promise<string> {
  if (!source.files.includes(name)) throw new TagbooruError('E_MODEL', `${source.dir} has no ${name} (${why})`);
  return sourceFile(source, name);
}

export async function importDeepDanbooru(source: Source, ctx: ImportContext): Promise<Draft> {
  const project = await readProject(source);
  const tagsFile = await requireFile(source, 'tags.txt', 'one tag per line, in output order');
  const categoriesFile = await requireFile(source, 'categories.json', 'the General / Character / System ranges of tags.txt');
  const modelFile = await pickKerasModel(source, project);
  const imageSize = ctx.options.imageSize ?? project?.imageSize;
  const isKeras3 = /\.keras$/i.test(modelFile);
  ctx.step(`reading ${path.basename(modelFile)}`);
  const keras = isKeras3 ? await readKeras3(modelFile, ctx.work('keras'), { imageSize, maxExtractBytes: ctx.options.maxExtractBytes }) : await readKerasH5(modelFile, { imageSize });
  const { spec, weights } = keras;

  const out = inferShapes(spec).get(spec.output)!;
  if (out.length !== 1) throw new TagbooruError('E_MODEL', `${modelFile}: the output ${spec.output} has shape [${out.join(',')}]; a tagger outputs one score per tag`);
  const tags = await applyCategories(await readTagsFile(tagsFile), categoriesFile);
  if (tags.length !== out[0]) {
    throw new TagbooruError('E_MODEL', `${tagsFile} lists ${tags.length} tags but the model has ${out[0]} outputs; tags.txt must be the one released with this model`);
  }
  const [height, width] = inputLayer(spec).shape;
  ctx.step(`exporting ${spec.layers.length} layers to ONNX`);
  const last = spec.layers.find((l) => l.name === spec.output);
  const params = parameterCount(spec);
  // the graph's value names start from layer names, so the output takes a name no layer has
  const taken = (n: string) => spec.layers.some((l) => l.name === n || l.name.startsWith(`${n}_`));
  const outputName = [DEFAULT_OUTPUT, 'probabilities', 'tagbooru_output'].find((n) => !taken(n)) ?? `${DEFAULT_OUTPUT}_${Date.now()}`;
  return {
    format: isKeras3 ? 'deepdanbooru-keras3' : 'deepdanbooru-h5',
    architecture: project?.model ?? spec.name,
    model: { bytes: exportInference(spec, weights, { outputName }) },
    training: { spec, weights },
    input: { name: DEFAULT_INPUT, batch: 'dynamic' },
    output: { name: outputName, activation: last?.kind === 'sigmoid' ? 'sigmoid' : 'logits' },
    preset: 'deepdanbooru',
    preprocess: presetSpec('deepdanbooru', { width, height }),
    tags,
    thresholds: { default: 0.5 },
    provenance: {
      modelFile: path.basename(modelFile),
      sha256: await sha256File(modelFile),
      kerasVersion: keras.kerasVersion,
      kerasModelName: spec.name,
      parameters: params.total,
      trainableParameters: params.trainable,
      ...(project && { project: project.raw }),
      ...(project?.imageSize && project.imageSize.join() !== [height, width].join() && { note: `project.json says ${project.imageSize[1]}×${project.imageSize[0]}; the model's input (${width}×${height}) is used, as DeepDanbooru's evaluate does` }),
    },
  };
}
