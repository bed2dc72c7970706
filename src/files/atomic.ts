/**
 * Replacing a file so that a kill or a power cut leaves either the old contents or the new, never an empty
 * or half-written file: write a hidden temporary file beside the target, fsync it, rename it over the
 * target. A kill in between leaves at most that hidden `.<name>.tmp-<pid>-<random>` file; any error on the
 * way removes it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface AtomicWriteOptions {
  /**
   * Also fsync the folder after the rename, so the rename itself survives a power cut. Only needed when
   * something later depends on it (deleting what the new file replaces); without it a power cut may bring
   * back the old contents, still whole.
   */
  readonly syncFolder?: boolean;
}

/** A file written under a temporary name, waiting to replace its target. */
export interface StagedFile {
  readonly target: string;
  commit(): Promise<void>;
  discard(): Promise<void>;
}

async function syncFolder(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } catch (e) {
    // some file systems (and Windows) cannot fsync a folder; the rename is still atomic
    if (!['EINVAL', 'EISDIR', 'EPERM', 'EBADF'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    await handle.close();
  }
}

/** Write `data` under a temporary name beside `file` (a symlink's target, when `file` is one), synced to disk. */
export async function stageFile(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<StagedFile> {
  const target = await fs.realpath(file).catch(() => path.resolve(file));
  const dir = path.dirname(target);
  const tmp = path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const mode = (await fs.stat(target).catch(() => null))?.mode;
  try {
    // `wx`: a name nobody else holds; the mode of the file it replaces
    const handle = await fs.open(tmp, 'wx', mode === undefined ? 0o666 : mode & 0o7777);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
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
      if (options.syncFolder) await syncFolder(dir);
    },
    discard: () => fs.rm(tmp, { force: true }),
  };
}

/** Replace `file` with `data` atomically (see above). */
export async function writeFileAtomic(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  await (await stageFile(file, data, options)).commit();
}

/** Stage every file first, then rename them in order: a failure while writing replaces none of them. */
export async function writeFilesAtomic(files: readonly (readonly [string, string | Uint8Array])[], options: AtomicWriteOptions = {}): Promise<void> {
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
