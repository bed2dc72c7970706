/** Where DeepDanbooru's layout keeps files: `<dirname(db)>/images/<md5[0:2]>/<md5>.<ext>`. */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { TagbooruError } from '../errors.ts';

const MD5 = /^[0-9a-f]{32}$/;

/** The lower-case hex md5 of a file's bytes: tagbooru always stores real hashes. */
export function md5Hex(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

function checkMd5(md5: string): void {
  // NOTE: DeepDanbooru accepts any string as md5 (only its first two characters name the folder);
  // tagbooru writes real hashes, but reads whatever a database holds as long as it is a safe file name.
  if (md5.length < 2 || /[/\\\0]/.test(md5) || md5 === '..') {
    throw new TagbooruError('E_USAGE', `Expected a file-name-safe md5 of at least 2 characters but received "${md5}"`);
  }
}

/** `images/ab/abcdef….png`, relative to the database's folder. */
export function imageRelativePath(md5: string, ext: string): string {
  checkMd5(md5);
  return path.join('images', md5.slice(0, 2), `${md5}.${ext}`);
}

/** The image of a post, next to its database, as DeepDanbooru's `load_image_records` builds it. */
export function imagePath(databasePath: string, md5: string, ext: string): string {
  return path.join(path.dirname(databasePath), imageRelativePath(md5, ext));
}

/** `masks/ab/abcdef…/<tag>.png`: a ground-truth mask of one tag in one image (tagbooru's addition). */
export function maskRelativePath(md5: string, tag: string): string {
  if (!MD5.test(md5)) throw new TagbooruError('E_USAGE', `Expected a 32-digit lower-case hex md5 for a mask path but received "${md5}"`);
  if (!/^[\w().:+-]+$/.test(tag) || tag.includes('..')) throw new TagbooruError('E_USAGE', `Expected a file-name-safe tag for a mask path but received "${tag}"`);
  return path.join('masks', md5.slice(0, 2), md5, `${tag.replaceAll(':', '_')}.png`);
}

export function maskPath(databasePath: string, md5: string, tag: string): string {
  return path.join(path.dirname(databasePath), maskRelativePath(md5, tag));
}
