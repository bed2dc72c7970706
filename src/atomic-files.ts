/**
 * Files that are either whole or absent: written under a hidden temporary name beside the target, synced,
 * renamed over it, and the folder synced, so a kill or a power cut at any moment leaves the old content or the
 * new, never half of either. A temporary left by a killed writer names its process, so the next start can
 * tell a dead writer's leftover from a live writer's work in progress; any error on the way removes it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** `x.tmp-<pid>` (folders) and `.x.tmp-<pid>-<random>` (files). */
const TEMP = /\.tmp-(\d+)(?:-[0-9a-f]{8})?$/;

export function tempPath(target: string): string {
  return `${target}.tmp-${process.pid}`;
}

/** Makes a rename in `dir` durable. */
export async function syncDir(dir: string): Promise<void> {
  // NOTE: Windows cannot open a folder to fsync it; NTFS journals the rename itself
  if (process.platform === 'win32') return;
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeSynced(file: string, data: Uint8Array | string, flags = 'w', mode = 0o666): Promise<void> {
  const handle = await fs.open(file, flags, mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export interface AtomicWriteOptions {
  /**
   * Sync the folder after the rename (default true), so the rename itself survives a power cut. Without it
   * a power cut may bring back the old contents, still whole: enough for files nothing else depends on.
   */
  readonly syncFolder?: boolean;
}

/** A file written under a temporary name, waiting to replace its target. */
export interface StagedFile {
  readonly target: string;
  commit(): Promise<void>;
  discard(): Promise<void>;
}

/** Write `data` under a hidden temporary name beside `file` (a symlink's target, when `file` is one), synced. */
export async function stageFile(file: string, data: Uint8Array | string, options: AtomicWriteOptions = {}): Promise<StagedFile> {
  const target = await fs.realpath(file).catch(() => path.resolve(file));
  const dir = path.dirname(target);
  const tmp = path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const mode = (await fs.stat(target).catch(() => null))?.mode;
  try {
    // `wx`: a name nobody else holds; the mode of the file it replaces
    await writeSynced(tmp, data, 'wx', mode === undefined ? 0o666 : mode & 0o7777);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  return {
    target,
    async commit() {
      try {
        await fs.rename(tmp, target);
      } catch (e) {
        await fs.rm(tmp, { force: true });
        throw e;
      }
      if (options.syncFolder ?? true) await syncDir(dir);
    },
    discard: () => fs.rm(tmp, { force: true }),
  };
}

export async function writeAtomic(file: string, data: Uint8Array | string, options: AtomicWriteOptions = {}): Promise<void> {
  await (await stageFile(file, data, options)).commit();
}

/** Stage every file first, then rename them in order: a failure while writing replaces none of them. */
export async function writeFilesAtomic(files: readonly (readonly [string, Uint8Array | string])[], options: AtomicWriteOptions = {}): Promise<void> {
  const staged: StagedFile[] = [];
  try {
    for (const [file, data] of files) staged.push(await stageFile(file, data, options));
  } catch (e) {
    await Promise.all(staged.map((s) => s.discard()));
    throw e;
  }
  for (const [i, s] of staged.entries()) {
    try {
      await s.commit();
    } catch (e) {
      await Promise.all(staged.slice(i + 1).map((rest) => rest.discard()));
      throw e;
    }
  }
}

/**
 * A folder of files, complete or absent: written as a temporary folder and renamed into place. A folder that
 * exists already is replaced, and only that replacement is not atomic (callers that care use a fresh name).
 */
export async function writeFolderAtomic(dir: string, files: ReadonlyMap<string, Uint8Array | string>): Promise<void> {
  const tmp = tempPath(dir);
  await fs.rm(tmp, { recursive: true, force: true });
  await fs.mkdir(tmp, { recursive: true });
  for (const [name, data] of files) await writeSynced(path.join(tmp, name), data);
  await syncDir(tmp);
  await fs.rm(dir, { recursive: true, force: true });
  await fs.rename(tmp, dir);
  await syncDir(path.dirname(dir));
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, but another user's
  }
}

/**
 * Removes the temporaries in `dir` whose writer is gone, and returns their names. This process's own count as
 * gone: call it before this process starts writing there. A dead writer's pid reused by a live process keeps
 * its leftover until that process ends.
 */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const stale = names.filter((n) => {
    const pid = TEMP.exec(n)?.[1];
    return pid !== undefined && (Number(pid) === process.pid || !isRunning(Number(pid)));
  });
  for (const n of stale) await fs.rm(path.join(dir, n), { recursive: true, force: true });
  return stale;
}
