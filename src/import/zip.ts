/**
 * The only import of yauzl: reading release zips and Keras 3 `.keras` archives. yauzl reads the central
 * directory first, so a truncated download fails at once, and it checks every entry's size as it inflates.
 * Only the entries asked for are extracted, within a byte budget checked against the sizes the central
 * directory declares and again on the bytes actually inflated. Extraction never writes outside its target
 * folder: a `../` or absolute entry name is refused.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { TagbooruError, errorMessage } from '../errors.ts';

/** The largest model released so far (Camie v1, EVA02-L) is under 2 GB; the default leaves room. */
export const DEFAULT_EXTRACT_LIMIT = 8 * 2 ** 30;

// NOTE: weights barely compress (≈1.1×) and label files about 5×; deflate tops out near 1030×, which only
// runs of one byte reach: a large entry past this ratio is a zip bomb, whatever its name.
const MAX_RATIO = 100;
const RATIO_CHECKED_FROM = 16 * 2 ** 20;

export interface ZipEntryInfo {
  /** A safe relative path. */
  readonly name: string;
  /** Uncompressed bytes, as the central directory declares them. */
  readonly size: number;
  readonly compressedSize: number;
}

/** Bytes extracted so far against a limit; shared by the extractions of one import. */
export interface ExtractBudget {
  readonly limit: number;
  used: number;
}

const mib = (bytes: number) => `${+(bytes / 2 ** 20).toFixed(3)} MiB`;

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: false, decodeStrings: true, validateEntrySizes: true, strictFileNames: false }, (err, zip) => {
      if (err) reject(zipError(file, err));
      else resolve(zip);
    });
  });
}

function zipError(file: string, e: unknown): TagbooruError {
  if (e instanceof TagbooruError) return e;
  const reason = errorMessage(e);
  if (/invalid relative path|absolute path/i.test(reason)) {
    return new TagbooruError('E_MODEL', `${file} has an unsafe entry (${reason}): it would be written outside the extraction folder`, { cause: e });
  }
  const what = /end of central directory|truncated|unexpected EOF|invalid central directory/i.test(reason) ? 'is truncated or not a zip archive' : 'cannot be read as a zip archive';
  return new TagbooruError('E_MODEL', `${file} ${what}: ${reason}`, { cause: e });
}

/** An entry name as a safe relative path, or an error naming it. */
export function safeEntryPath(name: string): string {
  const parts = name.replace(/\\/g, '/').split('/');
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name) || parts.includes('..')) {
    throw new TagbooruError('E_MODEL', `unsafe entry name "${name}": it would be written outside the extraction folder`);
  }
  return parts.filter((p) => p !== '' && p !== '.').join('/');
}

async function eachEntry(file: string, visit: (entry: yauzl.Entry, zip: yauzl.ZipFile) => Promise<void>): Promise<void> {
  const zip = await openZip(file);
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('error', (e) => reject(zipError(file, e)));
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        Promise.resolve().then(() => visit(entry, zip)).then(() => zip.readEntry(), reject);
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
}

const isFolder = (entry: yauzl.Entry) => entry.fileName.endsWith('/') || entry.fileName.endsWith('\\');

/**
 * The files of an archive from its central directory. Two entries that land on one path (the same name
 * twice, or a file that is also a folder of others) are refused: which one an importer read would be a guess.
 */
export async function listZip(file: string): Promise<ZipEntryInfo[]> {
  const entries: ZipEntryInfo[] = [];
  const seen = new Set<string>();
  await eachEntry(file, (entry) => {
    const name = safeEntryPath(entry.fileName);
    if (name === '' || isFolder(entry)) return Promise.resolve();
    if (seen.has(name)) throw new TagbooruError('E_MODEL', `${file} has two entries named "${name}"; refusing to guess which one is meant`);
    seen.add(name);
    entries.push({ name, size: entry.uncompressedSize, compressedSize: entry.compressedSize });
    return Promise.resolve();
  });
  const folders = new Set(entries.flatMap((e) => e.name.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'))));
  const clash = entries.find((e) => folders.has(e.name));
  if (clash) throw new TagbooruError('E_MODEL', `${file} has an entry "${clash.name}" that is both a file and a folder of other entries`);
  return entries;
}

function overLimit(file: string, budget: ExtractBudget, more: number): TagbooruError {
  return new TagbooruError('E_USAGE', `${file}: extracting it would write ${mib(budget.used + more)}, more than the limit of ${mib(budget.limit)}; refusing (raise it with --max-extract if the archive is trusted)`);
}

/** Refuse, before a byte is written, what the central directory says would break the budget. */
function checkDeclared(file: string, entries: readonly ZipEntryInfo[], budget: ExtractBudget): void {
  const bomb = entries.find((e) => e.size >= RATIO_CHECKED_FROM && e.size > MAX_RATIO * Math.max(e.compressedSize, 1));
  if (bomb) {
    throw new TagbooruError('E_MODEL', `${file}: entry "${bomb.name}" would expand ${Math.round(bomb.size / Math.max(bomb.compressedSize, 1))}× (${mib(bomb.size)} from ${bomb.compressedSize} bytes), more than the ${MAX_RATIO}× any model file compresses; refusing a zip bomb`);
  }
  const total = entries.reduce((n, e) => n + e.size, 0);
  if (budget.used + total > budget.limit) throw overLimit(file, budget, total);
}

/** Counts inflated bytes against the budget, whatever the archive declared. */
function meter(file: string, budget: ExtractBudget): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (budget.used + chunk.length > budget.limit) return done(overLimit(file, budget, chunk.length));
      budget.used += chunk.length;
      done(null, chunk);
    },
  });
}

export interface ExtractOptions {
  /** Which entries (safe relative paths) to extract; default all. */
  readonly only?: (name: string) => boolean;
  readonly budget?: ExtractBudget;
}

/** Extract the files `only` accepts under `dest`; returns the relative paths written. */
export async function extractZip(file: string, dest: string, options: ExtractOptions = {}): Promise<string[]> {
  const { only = () => true, budget = { limit: DEFAULT_EXTRACT_LIMIT, used: 0 } } = options;
  const wanted = (await listZip(file)).filter((e) => only(e.name));
  checkDeclared(file, wanted, budget);
  const names = new Set(wanted.map((e) => e.name));
  const root = path.resolve(dest);
  await fs.promises.mkdir(root, { recursive: true });
  const written: string[] = [];
  await eachEntry(file, async (entry, zip) => {
    if (isFolder(entry)) return;
    const rel = safeEntryPath(entry.fileName);
    if (!names.has(rel)) return;
    const target = path.resolve(root, rel);
    if (path.relative(root, target).startsWith('..') || path.isAbsolute(path.relative(root, target))) {
      throw new TagbooruError('E_MODEL', `unsafe entry name "${entry.fileName}": it would be written outside the extraction folder`);
    }
    await fs.promises.mkdir(path.dirname(target), { recursive: true });
    const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) => {
      zip.openReadStream(entry, (err, s) => (err ? reject(zipError(file, err)) : resolve(s)));
    });
    try {
      // `wx`: never follow or overwrite something already there (a symlink planted by an earlier entry)
      await pipeline(stream, meter(file, budget), fs.createWriteStream(target, { flags: 'wx' }));
    } catch (e) {
      await fs.promises.rm(target, { force: true });
      throw zipError(file, e);
    }
    written.push(rel);
  });
  return written;
}
