/**
 * The only import of yauzl: reading release zips and Keras 3 `.keras` archives. yauzl reads the central
 * directory first, so a truncated download fails at once, and it checks every entry's size as it inflates.
 * Extraction never writes outside its target folder: a `../` or absolute entry name is refused.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { TagbooruError, errorMessage } from '../errors.ts';

/** A release zip holds about 1 GB; refuse archives that claim far more (a zip bomb). */
const MAX_TOTAL_BYTES = 32 * 2 ** 30;

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: false, decodeStrings: true, validateEntrySizes: true, strictFileNames: false }, (err, zip) => {
      if (err) reject(zipError(file, err));
      else resolve(zip);
    });
  });
}

function zipError(file: string, e: unknown): TagbooruError {
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
        visit(entry, zip).then(() => zip.readEntry(), reject);
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
}

/** Entry names (files only). */
export async function listZip(file: string): Promise<string[]> {
  const names: string[] = [];
  await eachEntry(file, (entry) => {
    if (!entry.fileName.endsWith('/')) names.push(entry.fileName);
    return Promise.resolve();
  });
  return names;
}

/** Extract every file (or those `only` accepts) under `dest`; returns the relative paths written. */
export async function extractZip(file: string, dest: string, only?: (name: string) => boolean): Promise<string[]> {
  const root = path.resolve(dest);
  await fs.promises.mkdir(root, { recursive: true });
  const written: string[] = [];
  let total = 0;
  await eachEntry(file, async (entry, zip) => {
    const rel = safeEntryPath(entry.fileName);
    if (rel === '' || entry.fileName.endsWith('/') || (only && !only(rel))) return;
    const target = path.resolve(root, rel);
    if (path.relative(root, target).startsWith('..') || path.isAbsolute(path.relative(root, target))) {
      throw new TagbooruError('E_MODEL', `unsafe entry name "${entry.fileName}": it would be written outside the extraction folder`);
    }
    total += entry.uncompressedSize;
    if (total > MAX_TOTAL_BYTES) throw new TagbooruError('E_MODEL', `${file} expands to more than ${MAX_TOTAL_BYTES / 2 ** 30} GiB; refusing to extract it`);
    await fs.promises.mkdir(path.dirname(target), { recursive: true });
    const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) => {
      zip.openReadStream(entry, (err, s) => (err ? reject(zipError(file, err)) : resolve(s)));
    });
    try {
      // `wx`: never follow or overwrite something already there (a symlink planted by an earlier entry)
      await pipeline(stream, fs.createWriteStream(target, { flags: 'wx' }));
    } catch (e) {
      throw e instanceof TagbooruError ? e : zipError(file, e);
    }
    written.push(rel);
  });
  return written;
}
