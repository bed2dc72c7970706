/** Expanding the paths given on the command line (files, folders, `-` for a list on stdin) into images. */
import fs from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { TrainingDatabase } from '../data/training-db.ts';
import { IMAGE_EXTENSIONS } from '../image/index.ts';

/** DeepDanbooru sorts like a human: `img2` before `img10`. */
export const naturalCompare = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' }).compare;

export interface CollectOptions {
  readonly recursive: boolean;
  /** Lower-case extensions without the dot. */
  readonly extensions: readonly string[];
  readonly stdin: NodeJS.ReadableStream;
}

function hasExtension(name: string, extensions: readonly string[]): boolean {
  return extensions.includes(path.extname(name).slice(1).toLowerCase());
}

async function* walk(dir: string, options: CollectOptions): AsyncGenerator<string> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    yield dir; // reported by the decoder, with its reason
    return;
  }
  entries.sort((a, b) => naturalCompare(a.name, b.name));
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory() && options.recursive) yield* walk(full, options);
    // a folder named like an image (x.jpg) is listed, so it is reported rather than silently passed over
    else if (hasExtension(e.name, options.extensions)) yield full;
  }
}

async function* stdinLines(stream: NodeJS.ReadableStream): AsyncGenerator<string> {
  for await (const line of readline.createInterface({ input: stream, crlfDelay: Infinity })) {
    const p = line.trim();
    if (p) yield p;
  }
}

/**
 * Files named explicitly are always tried (a wrong extension gets an error, not silence); folders give
 * the files whose extension is in the filter.
 */
export async function* collectInputs(paths: readonly string[], options: CollectOptions): AsyncGenerator<string> {
  for (const p of paths) {
    if (p === '-') {
      for await (const line of stdinLines(options.stdin)) yield* collectInputs([line], options);
      continue;
    }
    const stat = await fs.stat(p).catch(() => null);
    if (stat?.isDirectory() && !hasExtension(p, options.extensions)) yield* walk(p, options);
    else yield p;
  }
}

export async function collectAll(paths: readonly string[], options: CollectOptions): Promise<string[]> {
  const out: string[] = [];
  for await (const p of collectInputs(paths, options)) out.push(p);
  return out;
}

/** The image files of a training database (its posts' paths), every post. */
export function databaseFiles(file: string): string[] {
  const db = TrainingDatabase.open(file, { readonly: true });
  try {
    return [...db.records()].map((r) => r.path);
  } finally {
    db.close();
  }
}

/** The images of a folder (recursively) or of a training database (a file). */
export async function folderOrDatabaseImages(data: string, stdin: NodeJS.ReadableStream): Promise<string[]> {
  return (await fs.stat(data)).isDirectory() ? collectAll([data], { recursive: true, extensions: IMAGE_EXTENSIONS, stdin }) : databaseFiles(data);
}
