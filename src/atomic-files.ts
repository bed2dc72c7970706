/**
 * Files that are either whole or absent: written under a temporary name `<target>.tmp-<pid>`, synced, renamed
 * over the target, and the folder synced, so a kill or a power cut at any moment leaves the old content or the
 * new, never half of either. A temporary left by a killed writer names its process, so the next start can
 * tell a dead writer's leftover from a live writer's work in progress.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

const TEMP = /\.tmp-(\d+)$/;

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

async function writeSynced(file: string, data: Uint8Array | string): Promise<void> {
  const handle = await fs.open(file, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function writeAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempPath(file);
  await writeSynced(tmp, data);
  await fs.rename(tmp, file);
  await syncDir(path.dirname(file));
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
