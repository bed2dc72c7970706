/** The bundled default model: it loads, and tags the held-out samples with (mostly) their true tags. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from 'vitest';
import { DEFAULT_MODEL_DIR } from '../../src/package.ts';
import { cli } from '../helpers/cli.ts';

const SAMPLES = path.resolve('samples');

test('`tagbooru tag samples/` with no --model uses the bundled model and finds the true tags', async () => {
  const manifest = JSON.parse(await fs.readFile(path.join(DEFAULT_MODEL_DIR, 'tagger.json'), 'utf8')) as { architecture: string; tags: unknown[]; provenance: { metrics?: unknown } };
  expect(manifest.architecture).toBe('resnet_custom_narrow');
  expect(manifest.tags).toHaveLength(40); // the default preset's 34 and the wide preset's six (docs/default-model.md)
  const expected = JSON.parse(await fs.readFile(path.join(SAMPLES, 'expected.json'), 'utf8')) as Record<string, string[]>;
  const r = await cli(['tag', SAMPLES, '--format', 'json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout) as { file: string; tags: { name: string }[] }[];
  expect(out).toHaveLength(Object.keys(expected).length);
  let tp = 0, fp = 0, fn = 0;
  for (const o of out) {
    const truth = new Set(expected[path.basename(o.file)]), got = new Set(o.tags.map((t) => t.name));
    // the character count and the white or cluttered background score ≥ 99% F1 on the held-out set: every sample must get them right
    for (const easy of ['solo', '2others', '3others', 'white_background', 'abstract_background']) expect(got.has(easy), `${o.file} ${easy}`).toBe(truth.has(easy));
    for (const t of got) {
      if (truth.has(t)) tp++;
      else fp++;
    }
    for (const t of truth) if (!got.has(t)) fn++;
  }
  const f1 = (2 * tp) / (2 * tp + fp + fn);
  console.log(`default model on samples/: micro-F1 ${f1.toFixed(3)} (${tp} right, ${fp} extra, ${fn} missed)`);
  expect(f1).toBeGreaterThan(F1_FLOOR);
}, 60_000);

const F1_FLOOR = 0.85; // measured 0.990 (49 right, 0 extra, 1 missed) with the committed model (stages 8 and 9; 0.932 with stage 7, 0.933 before its retrain on the fixed augmentation draws, 0.970 before step 11)
