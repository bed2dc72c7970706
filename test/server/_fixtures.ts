/** A tiny model bundle with every category the server and the UI treat specially, and multipart bodies by hand. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import { cli } from '../helpers/cli.ts';

export const TAGS: readonly { name: string; category: string }[] = [
  { name: 'long_hair', category: 'general' },
  { name: 'short_hair', category: 'general' },
  { name: 'blue_eyes', category: 'general' },
  { name: 'hat', category: 'general' },
  { name: 'smile', category: 'general' },
  { name: 'star_(sky)', category: 'general' },
  { name: 'hatsune_miku', category: 'character' },
  { name: 'kagamine_rin', category: 'character' },
  { name: 'vocaloid', category: 'copyright' },
  { name: 'general', category: 'rating' },
  { name: 'sensitive', category: 'rating' },
  { name: 'questionable', category: 'rating' },
  { name: 'explicit', category: 'rating' },
];

/** `tagbooru init-model test_tiny` at 64 px, then the categories and thresholds a WD-style bundle has. */
export async function makeBundle(dir: string, seed = 7): Promise<string> {
  const bundle = path.join(dir, 'bundle');
  await fs.writeFile(path.join(dir, 'tags.txt'), `${TAGS.map((t) => t.name).join('\n')}\n`);
  const init = await cli(['init-model', 'test_tiny', '--tags', path.join(dir, 'tags.txt'), '--image-size', '64', '--out', bundle, '--seed', String(seed)]);
  expect(init.stderr).toBe('');
  const file = path.join(bundle, 'tagger.json');
  const manifest = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  manifest.tags = TAGS;
  manifest.thresholds = { default: 0.5, categories: { general: 0.5, character: 0.6 } };
  await fs.writeFile(file, JSON.stringify(manifest));
  return bundle;
}

export interface Part {
  readonly name: string;
  readonly value: string | Uint8Array;
  readonly filename?: string;
  readonly type?: string;
}

/** A multipart/form-data body as browsers and most clients write it. */
export function multipart(parts: readonly Part[], boundary = `----tagbooru${randomBytes(8).toString('hex')}`): { payload: Buffer; headers: Record<string, string> } {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    const type = p.type ?? (p.filename !== undefined ? 'application/octet-stream' : undefined);
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${type ? `Content-Type: ${type}\r\n` : ''}\r\n`));
    chunks.push(typeof p.value === 'string' ? Buffer.from(p.value) : Buffer.from(p.value), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}
