/**
 * Reading a file a user named or a folder listed: only regular files. A FIFO named `x.png` would block
 * `open()` until some writer appeared (forever, and a libuv thread with it), and `/dev/zero` never ends,
 * so the type is checked before opening, and again on the open handle in case the path was swapped.
 */
import fs from 'node:fs/promises';
import { constants, type Stats } from 'node:fs';
import { TagbooruError } from './errors.ts';

/** Why a path cannot be read, as the caller's `<file>: <reason>` line shows it. */
const REASONS: Record<string, string> = {
  ENOENT: 'file not found',
  EISDIR: 'is a directory, not a file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTDIR: 'a parent of the path is not a directory',
  ELOOP: 'too many levels of symbolic links',
  // open() of a Unix socket
  ENXIO: 'not a regular file (a socket)',
};

// O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer (no effect on regular files)
const READ_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

function notRegular(st: Stats): string | null {
  if (st.isFile()) return null;
  if (st.isDirectory()) return REASONS.EISDIR!;
  const kind = st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'a special file';
  return `not a regular file (${kind})`;
}

function readError(error: unknown): TagbooruError {
  if (error instanceof TagbooruError) return error;
  const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
  // Node's own message names the path; the caller already prefixes it.
  return new TagbooruError('E_IO', REASONS[code] ?? `cannot read the file (${code})`, { cause: error });
}

/** The bytes of a regular file (symlinks followed); anything else is an E_IO error whose message leaves the path to the caller. */
export async function readRegularFile(file: string): Promise<Buffer> {
  try {
    const before = notRegular(await fs.stat(file));
    if (before) throw new TagbooruError('E_IO', before);
    const handle = await fs.open(file, READ_FLAGS);
    try {
      const after = notRegular(await handle.stat());
      if (after) throw new TagbooruError('E_IO', after);
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw readError(error);
  }
}

/** `readRegularFile` as text, or null when nothing is there (a caption or sidecar not written yet). */
export async function readRegularTextIfExists(file: string): Promise<string | null> {
  try {
    return (await readRegularFile(file)).toString('utf8');
  } catch (error) {
    if ((error as { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT') return null;
    throw error;
  }
}
