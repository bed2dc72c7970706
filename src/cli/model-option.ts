/** Where `--model` points when it is absent, decided in one place. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TagbooruError } from '../errors.ts';
import { MANIFEST } from '../infer/bundle.ts';

export const DEFAULT_MODEL_DIR = fileURLToPath(new URL('../../models/default', import.meta.url));

export function resolveModel(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const chosen = flag ?? env.TAGBOORU_MODEL;
  if (chosen) return chosen;
  if (fs.existsSync(path.join(DEFAULT_MODEL_DIR, MANIFEST))) return DEFAULT_MODEL_DIR;
  throw new TagbooruError('E_USAGE', '--model is required: give a bundle folder (see `tagbooru init-model`), or set TAGBOORU_MODEL');
}
