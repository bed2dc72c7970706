/**
 * Copies a few held-out images into samples/ and writes samples/expected.json with their true tags, so the
 * README's first command and the CI check tag images the model never saw.
 *   node --import tsx training/default-model/pick-samples.ts [held-out dataset.sqlite] [ids…]
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TrainingDatabase } from '../../src/data/index.ts';

const [database = 'training/default-model/data/heldout/dataset.sqlite', ...rest] = process.argv.slice(2);
const ids = rest.length ? rest.map(Number) : [1000002, 1000004, 1000006, 1000032, 1000046, 1000301];
const out = 'samples';
const db = TrainingDatabase.open(database, { readonly: true });
const expected: Record<string, string[]> = {};
try {
  const wanted = new Set(ids);
  for (const r of db.records()) {
    if (!wanted.delete(r.id)) continue;
    const name = `heldout-${r.id}.${r.fileExt}`;
    await fs.copyFile(r.path, path.join(out, name));
    expected[name] = [...r.tags].sort();
  }
  if (wanted.size) throw new Error(`${database} has no posts ${[...wanted].join(', ')}`);
} finally {
  db.close();
}
await fs.writeFile(path.join(out, 'expected.json'), `${JSON.stringify(expected, null, 1)}\n`);
console.log(`wrote ${Object.keys(expected).length} samples and ${out}/expected.json`);
