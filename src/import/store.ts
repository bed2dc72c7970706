/**
 * The model store: imported bundles live in `<home>/models/<name>/`, where home is `TAGBOORU_HOME`, else
 * `$XDG_DATA_HOME/tagbooru`, else `~/.local/share/tagbooru`. An import is built in a staging folder inside
 * the store and renamed into place only when complete, so a failure never leaves a half-written model.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TagbooruError } from '../errors.ts';
import { MANIFEST, readBundle, type BundleManifest } from '../infer/bundle.ts';

const STAGING_PREFIX = '.staging-';

export function storeHome(env: NodeJS.ProcessEnv): string {
  if (env.TAGBOORU_HOME) return path.resolve(env.TAGBOORU_HOME);
  const data = env.XDG_DATA_HOME || path.join(env.HOME || os.homedir(), '.local', 'share');
  return path.join(data, 'tagbooru');
}

export function modelsRoot(env: NodeJS.ProcessEnv): string {
  return path.join(storeHome(env), 'models');
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function validateName(name: string): string {
  if (!NAME.test(name)) {
    throw new TagbooruError('E_USAGE', `Expected a model name of letters, digits, ".", "_" or "-" (not starting with "." or "-") for --name but received "${name}"`);
  }
  return name;
}

/** `deepdanbooru-v3-20211112-sgd-e28.zip` → `deepdanbooru-v3-20211112-sgd-e28`; `wd-vit-tagger-v3/model.onnx` → `wd-vit-tagger-v3`. */
export function defaultName(source: string): string {
  const abs = path.resolve(source);
  let base = path.basename(abs);
  const generic = /^(model|model-resnet_custom_v\d|camie-tagger-v2|model_initial)\.(onnx|h5|keras)$/i.test(base);
  if (generic) base = path.basename(path.dirname(abs));
  base = base.replace(/\.(zip|h5|keras|onnx)$/i, '');
  const clean = base.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+/, '').slice(0, 128);
  return clean || 'model';
}

/** The bundle folder of a stored model, or null when the store has no model of that name. */
export function findStoredModel(name: string, env: NodeJS.ProcessEnv): string | null {
  if (!NAME.test(name)) return null;
  const dir = path.join(modelsRoot(env), name);
  return fs.existsSync(path.join(dir, MANIFEST)) ? dir : null;
}

/** Names of the stored models (folders with a manifest), sorted. */
export function listModelNames(env: NodeJS.ProcessEnv): string[] {
  const root = modelsRoot(env);
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root).filter((n) => !n.startsWith('.') && fs.existsSync(path.join(root, n, MANIFEST))).sort();
}

export interface StoredModel {
  readonly name: string;
  readonly dir: string;
  readonly manifest: BundleManifest | null;
  /** Why the folder is not a readable bundle. */
  readonly error: string | null;
  readonly bytes: number;
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? folderBytes(p) : fs.statSync(p).size;
  }
  return total;
}

export async function listModels(env: NodeJS.ProcessEnv): Promise<StoredModel[]> {
  const root = modelsRoot(env);
  const entries = fs.existsSync(root) ? fs.readdirSync(root, { withFileTypes: true }) : [];
  const out: StoredModel[] = [];
  for (const e of entries.filter((x) => x.isDirectory() && !x.name.startsWith('.')).sort((a, b) => a.name.localeCompare(b.name))) {
    const dir = path.join(root, e.name);
    try {
      const b = await readBundle(dir);
      out.push({ name: e.name, dir, manifest: b.manifest, error: null, bytes: folderBytes(dir) });
    } catch (err) {
      out.push({ name: e.name, dir, manifest: null, error: (err as Error).message, bytes: folderBytes(dir) });
    }
  }
  return out;
}

/** A private folder inside the store where one import is assembled. */
export class Staging {
  private constructor(readonly dir: string, private readonly root: string) {}

  static async create(env: NodeJS.ProcessEnv): Promise<Staging> {
    const root = modelsRoot(env);
    await fs.promises.mkdir(root, { recursive: true });
    await removeAbandoned(root);
    const dir = path.join(root, `${STAGING_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
    await fs.promises.mkdir(dir);
    return new Staging(dir, root);
  }

  /** Where the bundle is written. */
  get bundleDir(): string {
    return path.join(this.dir, 'bundle');
  }

  /** Scratch space for extracted archives. */
  work(name: string): string {
    return path.join(this.dir, 'work', name);
  }

  /** Move the finished bundle to `<store>/models/<name>`; replace an existing one only with `force`. */
  async commit(name: string, force: boolean): Promise<string> {
    const target = path.join(this.root, validateName(name));
    if (fs.existsSync(target)) {
      if (!force) throw new TagbooruError('E_USAGE', `the store already has a model named "${name}" (${target}); pass --force to replace it or --name to choose another`);
      await fs.promises.rename(target, path.join(this.dir, 'replaced'));
    }
    await fs.promises.rename(this.bundleDir, target);
    return target;
  }

  async discard(): Promise<void> {
    await fs.promises.rm(this.dir, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Staging folders of imports whose process is gone (interrupted with Ctrl-C, killed). */
async function removeAbandoned(root: string): Promise<void> {
  for (const name of await fs.promises.readdir(root)) {
    const pid = Number(/^\.staging-(\d+)-/.exec(name)?.[1]);
    if (pid && pid !== process.pid && !alive(pid)) await fs.promises.rm(path.join(root, name), { recursive: true, force: true });
  }
}

/** Remove a stored model. */
export async function removeModel(name: string, env: NodeJS.ProcessEnv): Promise<string> {
  const dir = findStoredModel(name, env);
  if (!dir) throw new TagbooruError('E_USAGE', `the store has no model named "${name}"`);
  await fs.promises.rm(dir, { recursive: true, force: true });
  return dir;
}
