/** DeepDanbooru's tags.txt: one tag per line, the line index is the output index. */
import fs from 'node:fs/promises';
import { TagbooruError, errorMessage } from '../errors.ts';
import type { TagInfo } from './bundle.ts';

export function categoryOfName(name: string): string {
  return name.startsWith('rating:') ? 'rating' : 'general';
}

export async function readTagsFile(file: string): Promise<TagInfo[]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new TagbooruError('E_IO', `cannot read tags file ${file}: ${errorMessage(e)}`, { cause: e });
  }
  // DeepDanbooru skips empty lines when it counts tags
  const names = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  if (names.length === 0) throw new TagbooruError('E_USAGE', `tags file ${file} has no tags`);
  return names.map((name) => ({ name, category: categoryOfName(name) }));
}
