/**
 * DeepDanbooru's tags.txt (one tag per line, the line index is the output index) and categories.json: one
 * validated reader of each, for importing a release and for training a project.
 */
import fs from 'node:fs/promises';
import { TagbooruError, errorMessage } from '../errors.ts';
import type { TagInfo } from './bundle.ts';

export function categoryOfName(name: string): string {
  return name.startsWith('rating:') ? 'rating' : 'general';
}

/**
 * A label file's names are the model's outputs in order: a name listed twice cannot be merged without
 * shifting every later output, nor kept without one of them being unreachable by name. `where` gives the
 * file's own position of the i-th name (`line 12`, `row 5`, `index 3`).
 */
export function refuseDuplicateTags(names: readonly string[], what: string, where: (i: number) => string): void {
  const at = new Map<string, number[]>();
  names.forEach((n, i) => at.set(n, [...(at.get(n) ?? []), i]));
  const repeated = [...at].filter(([, is]) => is.length > 1);
  if (repeated.length === 0) return;
  const [name, is] = repeated[0]!;
  const more = repeated.length > 1 ? ` (and ${repeated.length - 1} more repeated tag${repeated.length > 2 ? 's' : ''})` : '';
  throw new TagbooruError('E_BUNDLE', `${what} lists "${name}" ${is.length} times (${is.map(where).join(', ')})${more}: each entry is one model output, so they cannot be merged; use the label file released with the model`);
}

export async function readTagsFile(file: string): Promise<TagInfo[]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new TagbooruError('E_IO', `cannot read tags file ${file}: ${errorMessage(e)}`, { cause: e });
  }
  // DeepDanbooru skips empty lines when it counts tags
  const lines = text.split(/\r?\n/).map((l, i) => ({ name: l.trim(), line: i + 1 })).filter((l) => l.name !== '');
  const names = lines.map((l) => l.name);
  if (names.length === 0) throw new TagbooruError('E_USAGE', `tags file ${file} has no tags`);
  refuseDuplicateTags(names, `tags file ${file}`, (i) => `line ${lines[i]!.line}`);
  return names.map((name) => ({ name, category: categoryOfName(name) }));
}

/**
 * DeepDanbooru's `categories.json`: `[{"name":"General","start_index":0}, {"name":"Character",…}, {"name":"System",…}]`.
 * Each range's tags take its name in lower case; `rating:*` tags are the rating category wherever they sit.
 */
export async function applyCategories(tags: readonly TagInfo[], file: string): Promise<TagInfo[]> {
  const bad = (what: string, cause?: unknown): never => {
    throw new TagbooruError('E_MODEL', `categories file ${file}: ${what}`, { cause });
  };
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (e) {
    bad(`cannot be read as JSON: ${errorMessage(e)}`, e);
  }
  if (!Array.isArray(json) || json.length === 0) bad('expected a list of {"name", "start_index"}');
  const ranges = (json as unknown[]).map((c) => {
    const { name, start_index: start } = (c ?? {}) as { name?: unknown; start_index?: unknown };
    if (typeof name !== 'string' || !Number.isInteger(start)) bad(`cannot read entry ${JSON.stringify(c)}`);
    return { name: (name as string).toLowerCase(), start: start as number };
  });
  ranges.forEach((r, i) => {
    if (r.start < 0 || r.start > tags.length) bad(`${r.name} starts at ${r.start}, outside the ${tags.length} tags of tags.txt`);
    if (i > 0 && r.start < ranges[i - 1]!.start) bad('start_index values must increase');
  });
  return tags.map((t, i) => {
    if (t.name.startsWith('rating:')) return { name: t.name, category: 'rating' };
    const range = ranges.filter((r) => r.start <= i).at(-1);
    return { name: t.name, category: range?.name ?? 'general' };
  });
}
