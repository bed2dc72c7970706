/** Where `--model` points, decided in one place: a bundle folder, a name in the model store, or the default. */
import fs from 'node:fs';
import path from 'node:path';
import { TagbooruError } from '../errors.ts';
import { MANIFEST } from '../infer/bundle.ts';
import { pullHint } from '../import/known-models.ts';
import { findStoredModel, listModelNames, storeHome } from '../import/store.ts';
import { DEFAULT_MODEL_DIR } from '../package.ts';
import { readProject } from '../train/project.ts';

/**
 * A path that exists wins; otherwise a bare name is looked up in the store (`tagbooru models`). A path
 * that does not exist is returned as is, so reading it reports what is wrong with it.
 */
export function resolveModel(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const chosen = flag ?? env.TAGBOORU_MODEL;
  if (chosen) {
    if (fs.existsSync(chosen)) return chosen;
    const stored = findStoredModel(chosen, env);
    if (stored) return stored;
    if (!/[\\/]/.test(chosen)) {
      const names = listModelNames(env);
      const stored = names.length ? `Stored models: ${names.join(', ')}` : 'The store is empty: add a model with `tagbooru import <path>` or `tagbooru pull <name>` (see `tagbooru pull --help`)';
      const hint = pullHint(chosen);
      throw new TagbooruError('E_USAGE', `"${chosen}" is neither a bundle folder nor a model in the store (${storeHome(env)}). ${stored}${hint ? `. ${hint}` : ''}`);
    }
    return chosen;
  }
  if (fs.existsSync(path.join(DEFAULT_MODEL_DIR, MANIFEST))) return DEFAULT_MODEL_DIR;
  throw new TagbooruError('E_USAGE', '--model is required: give a stored model name (see `tagbooru models`), a bundle folder, or set TAGBOORU_MODEL');
}

/** A DeepDanbooru-style project folder: one with a project.json. */
export function isProjectDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'project.json'));
}

/** The bundle train-project exported for a project: `<project>/model-<model>`. */
export async function resolveProjectModel(dir: string): Promise<string> {
  const { config } = await readProject(dir);
  const bundle = path.join(dir, `model-${config.model}`);
  if (!fs.existsSync(path.join(bundle, MANIFEST))) throw new TagbooruError('E_USAGE', `${dir} has no trained model yet (${bundle}); run train-project first`);
  return bundle;
}
