/**
 * A Keras 3 `.keras` archive (what DeepDanbooru writes since Aug 2024): a zip of `config.json` (the
 * serialised model), `metadata.json` (`keras_version`) and `model.weights.h5`. In the weights file a
 * layer's variables sit at `layers/<snake_case(class)>[_<n>]/vars/<i>`: Keras 3 numbers layers per class
 * in `model.layers` order rather than by their names (saving_lib `_save_container_state`).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagbooruError, errorMessage } from '../errors.ts';
import { H5File } from './h5.ts';
import { parseKerasModel, snakeCase, type KerasLayer } from './keras-config.ts';
import { convertKerasModel, mapWeights, type KerasImport, type SavedVariable } from './keras-layers.ts';
import { DEFAULT_EXTRACT_LIMIT, extractZip } from './zip.ts';

const PARTS = ['config.json', 'metadata.json', 'model.weights.h5'];

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new TagbooruError('E_MODEL', `${what} is missing (${errorMessage(e)})`, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TagbooruError('E_MODEL', `${what} is not valid JSON: ${errorMessage(e)}`, { cause: e });
  }
}

/** Read `file` (a .keras zip), extracting its parts into `workDir`. */
export async function readKeras3(file: string, workDir: string, options: { imageSize?: readonly [number, number]; maxExtractBytes?: number } = {}): Promise<KerasImport> {
  const budget = { limit: options.maxExtractBytes ?? DEFAULT_EXTRACT_LIMIT, used: 0 };
  const written = await extractZip(file, workDir, { only: (name) => PARTS.includes(name), budget });
  for (const part of ['config.json', 'model.weights.h5']) {
    if (!written.includes(part)) throw new TagbooruError('E_MODEL', `${file} is not a Keras 3 archive: it has no ${part}`);
  }
  const config = await readJson(path.join(workDir, 'config.json'), `${file}: config.json`);
  const metadata = written.includes('metadata.json') ? await readJson(path.join(workDir, 'metadata.json'), `${file}: metadata.json`) : {};
  const model = parseKerasModel(config, `${file}: config.json`);
  const converted = convertKerasModel(model, file, options);

  // the group path of every layer, numbered per class in model.layers order
  const counts = new Map<string, number>();
  const groupOf = new Map<string, string>();
  for (const l of model.layers) {
    const base = snakeCase(l.className);
    const n = counts.get(base) ?? 0;
    counts.set(base, n + 1);
    groupOf.set(l.name, n === 0 ? base : `${base}_${n}`);
  }

  const f = await H5File.open(path.join(workDir, 'model.weights.h5'));
  try {
    // Keras 2.13 wrote `_layer_checkpoint_dependencies` where Keras 3 writes `layers`
    const top = ['layers', '_layer_checkpoint_dependencies'].find((g) => f.isGroup(g));
    const load = (layer: KerasLayer): SavedVariable[] => {
      if (!top) return [];
      const candidates = [`${top}/${groupOf.get(layer.name)!}/vars`, `${top}/${layer.name}/vars`];
      const vars = candidates.find((p) => f.isGroup(p));
      if (!vars) return [];
      const keys = f.keys(vars).filter((k) => /^\d+$/.test(k)).sort((a, b) => Number(a) - Number(b));
      return keys.map((k) => ({ name: `${vars}/${k}`, ...f.floats(`${vars}/${k}`) }));
    };
    const weights = mapWeights(converted, load, file);
    const version = (metadata as { keras_version?: unknown }).keras_version;
    return { spec: converted.spec, weights, format: 'keras3', kerasVersion: typeof version === 'string' ? version : null };
  } finally {
    f.close();
  }
}
