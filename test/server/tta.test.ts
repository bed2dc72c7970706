/**
 * `serve --tta`: the server runs the test-time-augmented graph `tag --tta` builds in memory (model.onnx left as it
 * is). Over HTTP on 127.0.0.1, POST /v1/tag gives that tagger's scores, not the plain model's, and the browser is
 * sent the augmented graph the server runs.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ttaInMemory } from '../../src/compose/bundles.ts';
import { parseTta } from '../../src/compose/tta.ts';
import { readBundle, type Bundle } from '../../src/infer/bundle.ts';
import { createTagger } from '../../src/index.ts';
import { buildApp } from '../../src/server/app.ts';
import { noiseImage } from '../helpers/images.ts';
import { multipart } from './_fixtures.ts';
import { SPEC_A, tinyMember, writeMembers } from '../compose/_members.ts';

let dir: string, plain: string, augmented: Bundle, image: string, app: FastifyInstance, url: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-serve-tta-'));
  plain = (await writeMembers(dir, [tinyMember('a', ['a', 'b', 'c', 'd'], SPEC_A, 'sigmoid', 1)]))[0]!;
  augmented = await ttaInMemory(await readBundle(plain), parseTta('--tta', 'flip'));
  image = await noiseImage(path.join(dir, 'sample.png'), 40, 32, 9);
  app = await buildApp({ model: augmented, prepWorkers: 1 });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

async function scoresOf(model: string | Bundle): Promise<Float32Array> {
  const tagger = await createTagger(model, { threads: 1 });
  try {
    return (await tagger.tag(image, { scores: true })).scores!;
  } finally {
    await tagger.close();
  }
}

test('POST /v1/tag answers with the augmented graph\'s scores; the browser gets that graph and its manifest', async () => {
  const { payload, headers } = multipart([{ name: 'file', value: await fs.readFile(image), filename: 'sample.png', type: 'image/png' }, { name: 'floor', value: '0' }]);
  const res = await fetch(`${url}/v1/tag`, { method: 'POST', body: payload, headers });
  expect(res.status).toBe(200);
  const got = (await res.json() as { results: { scores: { name: string; score: number }[] }[] }).results[0]!.scores;
  const names = augmented.manifest.tags.map((t) => t.name);
  const [want, alone] = [await scoresOf(augmented), await scoresOf(plain)];
  expect(got.map((s) => s.name).sort()).toEqual([...names].sort());
  for (const s of got) expect(Math.fround(s.score)).toBe(want[names.indexOf(s.name)]);
  // the mirror image's view is in: the scores are not the plain model's
  expect(Math.max(...names.map((_, t) => Math.abs(want[t]! - alone[t]!)))).toBeGreaterThan(1e-4);

  const manifest = await (await fetch(`${url}/v1/models/default/tagger.json`)).json() as { tta?: { views: number } };
  expect(manifest.tta?.views).toBe(2);
  const model = await fetch(`${url}/v1/models/default/model.onnx`);
  expect(Buffer.from(await model.arrayBuffer()).equals(Buffer.from(augmented.model!))).toBe(true);
  const again = await fetch(`${url}/v1/models/default/model.onnx`, { headers: { 'if-none-match': model.headers.get('etag')! } });
  expect(again.status).toBe(304);
  const models = await (await fetch(`${url}/v1/models`)).json() as { models: { explain: string[] }[] };
  expect(models.models[0]!.explain).toEqual([]);
});
