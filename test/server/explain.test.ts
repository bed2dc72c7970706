/**
 * `POST /v1/explain` against the library's own `tagger.explain` on the same image: the same tags, boxes, peaks
 * and maps (sent as grey PNGs); the overlay PNG; every field's bad value; its own queue beside tagging's.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ExplainOptions, TagRegion } from '../../src/explain/types.ts';
import { mapBytes } from '../../src/image/heatmap.ts';
import { createTagger, type Tagger } from '../../src/index.ts';
import type { ExplainJob } from '../../src/server/_explain-worker.ts';
import type { ExplainJson } from '../../src/wire.ts';
import { buildApp } from '../../src/server/app.ts';
import { ExplainPool } from '../../src/server/explain-pool.ts';
import { noiseImage, pngHeaderOnly } from '../helpers/images.ts';
import { makeBundle, multipart, type Part } from './_fixtures.ts';

let dir: string, bundle: string, app: FastifyInstance, oracle: Tagger;
let png: Buffer, big: Buffer;

type Body = ExplainJson & { model: string };
type ErrorBody = { error: string; message: string };

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-explain-'));
  bundle = await makeBundle(dir);
  png = await fs.readFile(await noiseImage(path.join(dir, 'a.png'), 120, 80, 1));
  big = await fs.readFile(await noiseImage(path.join(dir, 'big.png'), 1500, 1200, 3));
  app = await buildApp({ model: bundle, prepWorkers: 1, maxUploadBytes: 8 << 20, maxPixels: 4_000_000 });
  oracle = await createTagger(bundle);
});

afterAll(async () => {
  await app?.close();
  await oracle?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

const post = (parts: Part[], url = '/v1/explain', on = app) => on.inject({ method: 'POST', url, ...multipart(parts) });
const file = (data: Uint8Array, filename = 'a.png', type = 'image/png'): Part => ({ name: 'file', value: data, filename, type });
const field = (name: string, value: string): Part => ({ name, value });

/** A data URL's grey PNG as bytes, with its size. */
async function grey(url: string) {
  expect(url).toMatch(/^data:image\/png;base64,/);
  const png = Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');
  expect(png[25]).toBe(0); // IHDR colour type 0: one grey channel
  const { data, info } = await sharp(png).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

/** The JSON region must be the library's region: same numbers (rounded as documented) and the same map bytes. */
async function expectSameRegion(got: Body['tags'][number], want: TagRegion) {
  expect(got).toMatchObject({ name: want.name, category: want.category, threshold: want.threshold });
  expect(got.score).toBeCloseTo(want.score, 4);
  if (want.box === null) expect(got.box).toBeNull();
  else got.box!.forEach((v, i) => expect(v).toBeCloseTo(want.box![i]!, 1));
  got.peak.forEach((v, i) => expect(v).toBeCloseTo(want.peak[i]!, 1));
  const map = await grey(got.map);
  expect([map.width, map.height]).toEqual([want.map.width, want.map.height]);
  expect(map.data).toEqual(mapBytes(want.map.data));
}

describe('POST /v1/explain', () => {
  test('JSON: every region of the library\'s explain, option by option', async () => {
    const cases: [Part[], ExplainOptions][] = [
      [[], {}],
      [[field('tags', 'long hair,hat'), field('tags', 'vocaloid')], { tags: ['long_hair', 'hat', 'vocaloid'] }],
      [[field('tags', 'hat,smile'), field('method', 'scorecam'), field('mask-threshold', '0.3')], { tags: ['hat', 'smile'], method: 'scorecam', maskThreshold: 0.3 }],
      [[field('all_tags', 'true'), field('mask_threshold', '0.7')], { includePlaceless: true, maskThreshold: 0.7 }],
      [[field('refine', 'guided')], { refine: 'guided' }],
      [[field('refine', 'segments'), field('tags', 'hat')], { refine: 'segments', tags: ['hat'] }],
      [[field('map-stride', '4'), field('tags', 'hat')], { mapStride: 4, tags: ['hat'] }],
    ];
    for (const [fields, options] of cases) {
      const r = await post([file(png), ...fields]);
      expect(r.statusCode, JSON.stringify(options)).toBe(200);
      const body = r.json<Body>();
      const want = await oracle.explain({ name: 'a.png', data: png }, options);
      expect(body).toMatchObject({ model: 'test_tiny-64-untrained', file: 'a.png', method: want.method, width: 120, height: 80 });
      expect(body.scale).toEqual(want.scale);
      expect(body.tags.map((t) => t.name)).toEqual(want.tags.map((t) => t.name));
      for (const [i, t] of body.tags.entries()) await expectSameRegion(t, want.tags[i]!);
      if (want.tags[0]) expect(body.map).toEqual({ width: want.tags[0].map.width, height: want.tags[0].map.height });
    }
  });

  test('a raw image body with the fields in the query string', async () => {
    const r = await app.inject({ method: 'POST', url: '/v1/explain?filename=raw.png&tags=hat&method=cam', payload: png, headers: { 'content-type': 'image/png' } });
    expect(r.statusCode).toBe(200);
    const body = r.json<Body>();
    expect(body.file).toBe('raw.png');
    expect(body.tags.map((t) => t.name)).toEqual(['hat']);
  });

  test('format=png: one tag\'s heat map over the image, the size of the image', async () => {
    const r = await post([file(png), field('format', 'png'), field('tag', 'long hair'), field('opacity', '1')]);
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('image/png');
    const { data, info } = await sharp(r.rawPayload).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([120, 80, 3]);
    const original = await sharp(png).raw().toBuffer();
    const [region] = (await oracle.explain({ name: 'a.png', data: png }, { tags: ['long_hair'], includePlaceless: true })).tags;
    // at the peak the map is 1: with opacity 1 the pixel is Turbo's red end, not the image
    const [px, py] = region!.peak.map(Math.floor) as [number, number];
    const at = (buf: Uint8Array, x: number, y: number) => [...buf.subarray((y * 120 + x) * 3, (y * 120 + x) * 3 + 3)];
    expect(at(data, Math.min(119, px), Math.min(79, py))).not.toEqual(at(original, Math.min(119, px), Math.min(79, py)));
  });

  test('format=png of a large image: at most 1024 pixels on its longest side', async () => {
    const r = await post([file(big, 'big.png'), field('format', 'png'), field('tag', 'hat')]);
    expect(r.statusCode).toBe(200);
    const meta = await sharp(r.rawPayload).metadata();
    expect([meta.width, meta.height]).toEqual([1024, 819]);
  });
});

describe('the gradient methods, on the bundled model (it has its training weights)', () => {
  test('gradcam and saliency: the library\'s regions; /v1/models lists every method', async () => {
    const local = await buildApp({ model: 'models/default', prepWorkers: 1 });
    const tagger = await createTagger('models/default');
    try {
      const sample = await fs.readFile('samples/heldout-1000004.png');
      const models = (await local.inject('/v1/models')).json<{ models: { explain: string[] }[] }>();
      expect(models.models[0]!.explain).toEqual(['cam', 'gradcam', 'scorecam', 'saliency']);
      expect((await app.inject('/v1/models')).json<{ models: { explain: string[] }[] }>().models[0]!.explain).toEqual(['cam', 'scorecam']);
      for (const method of ['gradcam', 'saliency'] as const) {
        const r = await post([file(sample, 's.png'), field('method', method), field('tags', 'glasses,long_hair')], '/v1/explain', local);
        expect(r.statusCode, method).toBe(200);
        const body = r.json<Body>();
        const want = await tagger.explain({ name: 's.png', data: sample }, { method, tags: ['glasses', 'long_hair'] });
        expect(body.method).toBe(method);
        expect(body.tags.map((t) => t.name)).toEqual(['glasses', 'long_hair']);
        for (const [i, t] of body.tags.entries()) await expectSameRegion(t, want.tags[i]!);
      }
    } finally {
      await tagger.close();
      await local.close();
    }
  });
});

describe('bad input: the status, and a message that names the field', () => {
  const cases: [string, () => Promise<{ statusCode: number; json: <T>() => T }>, number, RegExp][] = [
    ['an unknown method', () => post([file(png), field('method', 'lime')]), 400, /Expected one of cam, gradcam, scorecam, saliency for method but received "lime"/],
    ['a gradient method without training weights', () => post([file(png), field('method', 'gradcam')]), 400, /Expected one of cam, scorecam for method but received "gradcam": it needs the bundle's training weights/],
    ['a mask threshold above 1', () => post([file(png), field('mask-threshold', '1.5')]), 400, /Expected a number between 0 and 1 for mask-threshold but received "1\.5"/],
    ['a map stride the model cannot give', () => post([file(png), field('map-stride', '3')]), 400, /Expected one of 8, 4, 2, 1 for this model \(input pixels per map cell\) for mapStride but received 3/],
    ['a bad all-tags', () => post([file(png), field('all-tags', 'maybe')]), 400, /Expected true or false for all-tags but received "maybe"/],
    ['an unknown format', () => post([file(png), field('format', 'gif')]), 400, /Expected one of json, png for format but received "gif"/],
    ['an unknown tag', () => post([file(png), field('tags', 'hat,wings')]), 400, /for tags but received "wings"/],
    ['png without a tag', () => post([file(png), field('format', 'png')]), 400, /Expected one tag of the model .* for tag but received ""/],
    ['png with two tags', () => post([file(png), field('format', 'png'), field('tag', 'hat,smile')]), 400, /for tag but received "hat,smile"/],
    ['png with an unknown tag', () => post([file(png), field('format', 'png'), field('tag', 'wings')]), 400, /for tag but received "wings"/],
    ['png with tags', () => post([file(png), field('format', 'png'), field('tag', 'hat'), field('tags', 'smile')]), 400, /name it in "tag", not "tags"/],
    ['json with tag', () => post([file(png), field('tag', 'hat')]), 400, /field "tag" names the one tag of format=png/],
    ['an opacity above 1', () => post([file(png), field('format', 'png'), field('tag', 'hat'), field('opacity', '2')]), 400, /between 0 and 1 for opacity/],
    ['two images', () => post([file(png), file(png, 'b.png')]), 400, /field "file": Expected one image but received 2/],
    ['no image', () => post([field('tags', 'hat')]), 400, /no image: send one or more files in the multipart field "file"/],
    ['an unknown field', () => post([file(png), field('colour', 'red')]), 400, /unknown field "colour"\. Known: file, tags, method, mask-threshold, map-stride, refine, all-tags, format, tag, opacity, filename/],
    ['not an image', () => post([file(Buffer.from('not an image'), 'x.png')]), 400, /"x\.png": not a recognised image format/],
    ['a decompression bomb', () => post([file(pngHeaderOnly(100_000, 100_000), 'bomb.png')]), 400, /exceeds the pixel limit of 4000000/],
  ];
  for (const [name, send, status, message] of cases) {
    test(`${name} → ${status}`, async () => {
      const r = await send();
      expect(r.statusCode).toBe(status);
      const body = r.json<ErrorBody>();
      expect(Object.keys(body)).toEqual(['error', 'message']);
      expect(body.message).toMatch(message);
    });
  }
});

describe('its own queue', () => {
  test('a full explain queue answers 503 with Retry-After while tagging goes on', async () => {
    const local = await buildApp({ model: bundle, prepWorkers: 1, explainQueueSize: 1, queueSize: 4 });
    try {
      const explains = Array.from({ length: 3 }, () => post([file(png), field('method', 'scorecam')], '/v1/explain', local));
      const tags = Array.from({ length: 4 }, () => post([file(png)], '/v1/tag', local));
      const [explained, tagged] = await Promise.all([Promise.all(explains), Promise.all(tags)]);
      expect(explained.map((r) => r.statusCode).sort()).toEqual([200, 503, 503]);
      const busy = explained.find((r) => r.statusCode === 503)!;
      expect(Number(busy.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(busy.json<ErrorBody>()).toEqual({ error: 'E_BUSY', message: 'the server is busy: 1 explain requests are in flight (explain queue size 1)' });
      expect(tagged.map((r) => r.statusCode)).toEqual([200, 200, 200, 200]); // explaining takes no tagging place
      const health = (await local.inject('/healthz')).json<{ inFlight: number; explain: { inFlight: number; queued: number } }>();
      expect(health).toMatchObject({ inFlight: 0, explain: { inFlight: 0, queued: 0 } });
      const metrics = (await local.inject('/metrics')).body;
      expect(metrics).toMatch(/^tagbooru_images_explained_total\{method="scorecam"\} 1$/m);
      expect(metrics).toMatch(/^tagbooru_explain_duration_seconds_count\{method="scorecam"\} 1$/m);
      expect(metrics).toContain('tagbooru_http_requests_total{route="/v1/explain",method="POST",status="503"} 2');
      expect(metrics).toMatch(/^tagbooru_explain_requests_in_flight 0$/m);
    } finally {
      await local.close();
    }
  });

  test('Retry-After follows the worker\'s time per image, not the time spent queueing', async () => {
    let ms = 0;
    // each reading of the clock is 300 ms after the last: every image takes 0.3 s from dispatch to answer
    const pool = new ExplainPool({ model: bundle, threads: 1, maxPixels: 4_000_000, queueSize: 8, now: () => (ms += 300) });
    try {
      const job: ExplainJob = { options: { tags: ['hat'] }, output: { format: 'json' } };
      // four at once: the last waits behind three (and the worker's start), which must not count as its time
      await Promise.all([1, 2, 3, 4].map(() => pool.explain({ name: 'a.png', data: png }, job, new AbortController().signal)));
      const held = Array.from({ length: 8 }, () => pool.admit());
      expect(pool.retryAfter()).toBe(3); // 8 requests ahead × 0.3 s
      let refused: unknown;
      try {
        pool.admit();
      } catch (e) {
        refused = e;
      }
      expect(refused).toMatchObject({ code: 'E_BUSY', retryAfter: 3 });
      for (const release of held) release();
      expect(pool.retryAfter()).toBe(1);
    } finally {
      await pool.close();
    }
  });

  test('a request past its deadline answers 503 and gives its place back', async () => {
    const local = await buildApp({ model: bundle, prepWorkers: 1, timeoutMs: 5 });
    try {
      const slow = await post([file(big, 'big.png')], '/v1/explain', local);
      expect(slow.statusCode).toBe(503);
      expect(slow.json<ErrorBody>()).toEqual({ error: 'E_TIMEOUT', message: 'not answered within the request timeout of 5 ms' });
      expect((await local.inject('/healthz')).json<{ explain: { inFlight: number } }>().explain.inFlight).toBe(0);
    } finally {
      await local.close();
    }
  });

  test('API keys: explaining needs one', async () => {
    const key = 'k-0123456789';
    const local = await buildApp({ model: bundle, prepWorkers: 1, apiKeys: [key] });
    try {
      expect((await post([file(png)], '/v1/explain', local)).statusCode).toBe(401);
      const { payload, headers } = multipart([file(png)]);
      const ok = await local.inject({ method: 'POST', url: '/v1/explain?tags=hat', payload, headers: { ...headers, 'x-api-key': key } });
      expect(ok.statusCode).toBe(200);
    } finally {
      await local.close();
    }
  });
});
