/** `GET /v1/models` offers the bundle's OOD score for in-browser runs: the graph with the score in it, cached and revalidated. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { readBundle } from '../../src/infer/bundle.ts';
import { bundleOodScoreGraph } from '../../src/infer/ood-score-graph.ts';
import { buildApp } from '../../src/server/app.ts';
import type { ModelInfo } from '../../src/wire.ts';
import { makeBundle } from './_fixtures.ts';

const MODEL = path.resolve('models/default');
let dir: string, tiny: string, app: FastifyInstance;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-ood-model-'));
  tiny = await makeBundle(dir);
  app = await buildApp({ model: MODEL, prepWorkers: 1, browserModels: [tiny] });
});

afterAll(async () => {
  await app?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

test('a model with a fit lists its score, output and threshold and serves the scored graph; one without lists none', async () => {
  const { models } = (await app.inject('/v1/models')).json<{ models: ModelInfo[] }>();
  const [served, offered] = models;
  const manifest = (await readBundle(MODEL)).manifest;
  expect(served!.ood).toEqual({ method: manifest.ood!.method, output: 'ood_score', threshold: manifest.ood!.thresholds[manifest.ood!.method], model: '/v1/models/default/model-ood.onnx' });
  const graph = await app.inject(served!.ood!.model);
  expect(graph.statusCode).toBe(200);
  expect(graph.rawPayload.equals(Buffer.from((await bundleOodScoreGraph(await readBundle(MODEL)))!.graph.model))).toBe(true);
  expect((await app.inject({ url: served!.ood!.model, headers: { 'if-none-match': graph.headers.etag as string } })).statusCode).toBe(304);
  // the plain model.onnx is still the bundle's file
  expect((await app.inject(served!.files.model)).rawPayload.equals(await fs.readFile(path.join(MODEL, 'model.onnx')))).toBe(true);

  expect(offered!.ood).toBeUndefined();
  expect((await app.inject(`/v1/models/${offered!.id}/model-ood.onnx`)).statusCode).toBe(404);
}, 60_000);
