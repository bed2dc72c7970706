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
/** Inside each staging folder: which process on which host owns it. */
const OWNER_FILE = 'owner.json';

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
  await removeAbandoned(root);
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
    await fs.promises.writeFile(path.join(dir, OWNER_FILE), JSON.stringify(currentOwner()));
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

interface Owner {
  readonly host: string;
  readonly pid: number;
  /** The process's start time (Linux: clock ticks since boot), so a reused pid is not taken for the owner. */
  readonly started: string | null;
}

function processStarted(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function currentOwner(): Owner {
  return { host: os.hostname(), pid: process.pid, started: processStarted(process.pid) };
}

function alive(owner: Owner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = processStarted(owner.pid);
  // a start time that cannot be read (another user's process under hidepid) proves nothing either way
  return owner.started === null || now === null || now === owner.started;
}

function readOwner(dir: string, name: string): Owner | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8')) as Owner;
  } catch {
    // killed before the owner file was written: the pid in the folder's name
    const pid = Number(/^\.staging-(\d+)-/.exec(name)?.[1]);
    return pid ? { host: os.hostname(), pid, started: null } : null;
  }
}

/**
 * Staging folders of imports whose process is gone (interrupted with Ctrl-C, killed): removed whenever the
 * store is opened. A folder owned by a live process, or by another host sharing the store, is left alone.
 */
async function removeAbandoned(root: string): Promise<void> {
  const names = await fs.promises.readdir(root).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.startsWith(STAGING_PREFIX))) {
    const dir = path.join(root, name);
    const owner = readOwner(dir, name);
    if (owner && owner.host === os.hostname() && !alive(owner)) await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

/** Remove a stored model. */
export async function removeModel(name: string, env: NodeJS.ProcessEnv): Promise<string> {
  const dir = findStoredModel(name, env);
  if (!dir) throw new TagbooruError('E_USAGE', `the store has no model named "${name}"`);
  await fs.promises.rm(dir, { recursive: true, force: true });
  return dir;
}
