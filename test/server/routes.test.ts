import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTagger, type SelectionOptions, type Tagger } from '../../src/index.ts';
import { float32Number } from '../../src/server/api.ts';
import { buildApp } from '../../src/server/app.ts';
import { cli } from '../helpers/cli.ts';
import { noiseImage, pngHeaderOnly, solidImage } from '../helpers/images.ts';
import { makeBundle, multipart, TAGS, type Part } from './_fixtures.ts';

let dir: string, bundle: string, app: FastifyInstance, oracle: Tagger;
let png: Buffer, jpg: Buffer, big: Buffer;

type Tag = { name: string; category: string; score: number };
type TagBody = { model: string; results: { file: string; tags: Tag[]; rating: { name: string; score: number } | null; error: string | null; scores?: Tag[] }[] };
type ErrorBody = { error: string; message: string };
type CaptionBody = { results: { file: string; tags: { name: string; category: string }[]; rating: { name: string } | null; error: string | null; caption?: string | null }[] };

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-server-'));
  bundle = await makeBundle(dir);
  png = await fs.readFile(await noiseImage(path.join(dir, 'a.png'), 120, 80, 1));
  jpg = await fs.readFile(await noiseImage(path.join(dir, 'b.jpg'), 50, 90, 2));
  big = await fs.readFile(await noiseImage(path.join(dir, 'big.png'), 1500, 1500, 3));
  app = await buildApp({ model: bundle, prepWorkers: 1, maxUploadBytes: 1 << 20, maxFiles: 4, maxPixels: 4_000_000 });
  oracle = await createTagger(bundle);
});

afterAll(async () => {
  await app?.close();
  await oracle?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const post = (url: string, parts: Part[]) => app.inject({ method: 'POST', url, ...multipart(parts) });
const file = (data: Uint8Array, filename = 'a.png', type = 'image/png'): Part => ({ name: 'file', value: data, filename, type });

describe('JSON API', () => {
  test('GET /healthz and /v1/models describe the bundle', async () => {
    const health = await app.inject('/healthz');
    expect(health.json()).toMatchObject({ status: 'ok', model: 'test_tiny-64-untrained', queued: 0, inFlight: 0 });
    const models = (await app.inject('/v1/models')).json<{ models: { id: string; tags: number; categories: Record<string, number>; files: { manifest: string; model: string } }[] }>();
    expect(models.models).toHaveLength(1);
    const [m] = models.models;
    expect(m).toMatchObject({ id: 'default', tags: TAGS.length, categories: { general: 6, character: 2, copyright: 1, rating: 4 } });
    const manifest = (await app.inject(m!.files.manifest)).json<{ tags: unknown[]; preprocess: { width: number } }>();
    expect(manifest.tags).toEqual(TAGS);
    expect(manifest.preprocess.width).toBe(64);
    const onnx = await app.inject(m!.files.model);
    expect(onnx.statusCode).toBe(200);
    expect(onnx.rawPayload.equals(await fs.readFile(path.join(bundle, 'model.onnx')))).toBe(true);
    const again = await app.inject({ url: m!.files.model, headers: { 'if-none-match': onnx.headers.etag as string } });
    expect(again.statusCode).toBe(304);
  });

  test('POST /v1/tag gives the library\'s tags and scores, option by option', async () => {
    const cases: [Part[], SelectionOptions][] = [
      [[], {}],
      [[{ name: 'threshold', value: '0.3' }], { threshold: 0.3 }],
      [[{ name: 'general-threshold', value: '0.2' }, { name: 'character-threshold', value: '0.9' }], { categoryThresholds: { general: 0.2, character: 0.9 } }],
      [[{ name: 'mcut', value: 'true' }], { mcut: true }],
      [[{ name: 'threshold', value: '0' }, { name: 'top-k', value: '3' }], { threshold: 0, topK: 3 }],
      [[{ name: 'threshold', value: '0' }, { name: 'exclude', value: 'long hair,/^short/' }, { name: 'exclude', value: '*_eyes' }], { threshold: 0, exclude: ['long hair', '/^short/', '*_eyes'] }],
      [[{ name: 'threshold', value: '0' }, { name: 'include', value: 'hat,smile' }], { threshold: 0, include: ['hat', 'smile'] }],
      [[{ name: 'threshold', value: '0.9' }, { name: 'tag-threshold', value: 'smile=0.01' }], { threshold: 0.9, tagThresholds: { smile: 0.01 } }],
    ];
    for (const [fields, options] of cases) {
      const r = await post('/v1/tag', [file(png), ...fields]);
      expect(r.statusCode, JSON.stringify(options)).toBe(200);
      const body = r.json<TagBody>();
      const want = await oracle.tag({ name: 'a.png', data: png }, options);
      expect(body.model).toBe('test_tiny-64-untrained');
      expect(body.results).toHaveLength(1);
      const [got] = body.results;
      expect(got!.file).toBe('a.png');
      expect(got!.error).toBeNull();
      // selected tags carry four decimals, as the CLI's JSON does
      expect(got!.tags).toEqual(want.tags.map((t) => ({ ...t, score: Math.round(t.score * 10000) / 10000 })));
      expect(got!.rating).toEqual(want.rating && { name: want.rating.name, score: Math.round(want.rating.score * 10000) / 10000 });
    }
  });

  test('`floor` adds every score at or above it, exact to the float32, highest first', async () => {
    const body = (await post('/v1/tag', [file(png), { name: 'floor', value: '0' }])).json<TagBody>();
    const want = await oracle.tag({ name: 'a.png', data: png }, { scores: true });
    const scores = body.results[0]!.scores!;
    expect(scores).toHaveLength(TAGS.length);
    expect(scores.map((s) => s.score)).toEqual([...scores.map((s) => s.score)].sort((a, b) => b - a));
    for (const s of scores) expect(Math.fround(s.score)).toBe(want.scores![TAGS.findIndex((t) => t.name === s.name)]);
    const some = (await post('/v1/tag', [file(png), { name: 'floor', value: '0.5' }])).json<TagBody>();
    expect(some.results[0]!.scores!.every((s) => s.score >= 0.5)).toBe(true);
  });

  test('float32Number: the shortest decimal that reads back as the same float32', () => {
    expect(float32Number(Math.fround(0.1))).toBe(0.1);
    expect(float32Number(Math.fround(0.87221205))).toBe(0.87221205);
    expect(float32Number(1)).toBe(1);
    let seed = 3;
    for (let i = 0; i < 2000; i++) {
      const x = Math.fround(((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32));
      const v = float32Number(x);
      expect(Math.fround(v)).toBe(x);
      expect(String(v).replace(/^0\.0*/, '').length).toBeLessThanOrEqual(9);
      if (String(v).length > 3) expect(Math.fround(Number(v.toPrecision(String(v).replace(/^0\.0*/, '').length - 1)))).not.toBe(x); // no shorter one
    }
  });

  test('a raw image body with ?filename= and options in the query string', async () => {
    const r = await app.inject({ method: 'POST', url: '/v1/tag?filename=b.jpg&threshold=0&top-k=2', payload: jpg, headers: { 'content-type': 'image/jpeg' } });
    expect(r.statusCode).toBe(200);
    const [res] = r.json<TagBody>().results;
    expect(res!.file).toBe('b.jpg');
    expect(res!.tags).toHaveLength(2);
  });

  test('several files: in order; a bad one carries its error, the others are tagged', async () => {
    const r = await post('/v1/tag', [file(png, 'one.png'), file(Buffer.from('hello'), 'notes.txt', 'text/plain'), file(jpg, 'two.jpg', 'image/jpeg')]);
    expect(r.statusCode).toBe(200);
    const results = r.json<TagBody>().results;
    expect(results.map((x) => x.file)).toEqual(['one.png', 'notes.txt', 'two.jpg']);
    expect(results.map((x) => x.error === null)).toEqual([true, false, true]);
    expect(results[1]!.error).toMatch(/not a recognised image format/);
  });
});

describe('bad input: the status, and a message that names the problem', () => {
  const cases: [string, () => Promise<{ statusCode: number; json: <T>() => T }>, number, RegExp][] = [
    ['not an image', () => post('/v1/tag', [file(Buffer.from('this is not an image\n'), 'x.png')]), 400, /"x\.png": not a recognised image format/],
    ['an empty file', () => post('/v1/tag', [file(Buffer.alloc(0), 'empty.png')]), 400, /"empty\.png": empty file/],
    ['a truncated JPEG', () => post('/v1/tag', [file(jpg.subarray(0, jpg.length >> 1), 'cut.jpg', 'image/jpeg')]), 400, /"cut\.jpg": corrupt or truncated/],
    ['a decompression bomb', () => post('/v1/tag', [file(pngHeaderOnly(100_000, 100_000), 'bomb.png')]), 400, /100000×100000 pixels exceeds the pixel limit of 4000000/],
    ['over the pixel limit', () => post('/v1/tag', [file(pngHeaderOnly(2001, 2000), 'wide.png')]), 400, /exceeds the pixel limit/],
    ['over the upload limit (multipart)', () => post('/v1/tag', [file(Buffer.alloc((1 << 20) + 1), 'huge.png')]), 413, /larger than the upload limit/],
    ['over the upload limit (raw body)', () => app.inject({ method: 'POST', url: '/v1/tag', payload: Buffer.alloc((1 << 20) + 1), headers: { 'content-type': 'image/png' } }), 413, /larger than the upload limit/],
    ['too many files', () => post('/v1/tag', Array.from({ length: 5 }, () => file(png))), 413, /too many files/],
    ['an unknown field', () => post('/v1/tag', [file(png), { name: 'treshold', value: '0.5' }]), 400, /unknown field "treshold"\. Known: file, threshold, /],
    ['an unknown query parameter', () => app.inject({ method: 'POST', url: '/v1/tag?colour=red', ...multipart([file(png)]) }), 400, /unknown field "colour"/],
    ['a threshold above 1', () => post('/v1/tag', [file(png), { name: 'threshold', value: '1.5' }]), 400, /Expected a number between 0 and 1 for threshold but received "1\.5"/],
    ['a threshold that is not a number', () => post('/v1/tag', [file(png), { name: 'general-threshold', value: 'high' }]), 400, /for general-threshold but received "high"/],
    ['a threshold given twice', () => post('/v1/tag', [file(png), { name: 'threshold', value: '0.1' }, { name: 'threshold', value: '0.2' }]), 400, /Expected one value for threshold/],
    ['a bad top-k', () => post('/v1/tag', [file(png), { name: 'top-k', value: '2.5' }]), 400, /an integer between 1 and 1000000 for top-k/],
    ['a bad boolean', () => post('/v1/tag', [file(png), { name: 'mcut', value: 'maybe' }]), 400, /true or false for mcut/],
    ['a bad tag-threshold', () => post('/v1/tag', [file(png), { name: 'tag-threshold', value: 'hat' }]), 400, /tag=value for tag-threshold/],
    ['a bad regular expression', () => post('/v1/tag', [file(png), { name: 'exclude', value: '/[unclosed/' }]), 400, /Expected a regular expression RE2 can run for exclude but received "\/\[unclosed\/": missing closing \]/],
    ['no file', () => post('/v1/tag', [{ name: 'threshold', value: '0.5' }]), 400, /no image: send one or more files in the multipart field "file"/],
    ['a file in another field', () => post('/v1/tag', [{ name: 'image', value: png, filename: 'a.png' }]), 400, /unknown field "image"/],
    ['text in the file field', () => post('/v1/tag', [{ name: 'file', value: 'hello' }]), 400, /must be a file upload/],
    ['a truncated multipart body', () => {
      const { payload, headers } = multipart([file(png)]);
      return app.inject({ method: 'POST', url: '/v1/tag', payload: payload.subarray(0, payload.length - 40), headers });
    }, 400, /malformed multipart body/],
    ['multipart without a boundary', () => app.inject({ method: 'POST', url: '/v1/tag', payload: 'x', headers: { 'content-type': 'multipart/form-data' } }), 400, /malformed multipart body/],
    ['a JSON body', () => app.inject({ method: 'POST', url: '/v1/tag', payload: { file: 'a.png' } }), 415, /Expected multipart\/form-data/],
    ['an unknown route', () => app.inject('/v2/tag'), 404, /no route GET \/v2\/tag/],
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

  test('none of them disturbs the requests running beside them', async () => {
    const alone = (await post('/v1/tag', [file(png), { name: 'floor', value: '0' }])).json<TagBody>().results[0]!.scores;
    const good = () => post('/v1/tag', [file(png), { name: 'floor', value: '0' }]);
    const bad = [
      () => post('/v1/tag', [file(Buffer.from('nope'), 'x.png')]),
      () => post('/v1/tag', [file(pngHeaderOnly(100_000, 100_000), 'bomb.png')]),
      () => post('/v1/tag', [file(Buffer.alloc((1 << 20) + 1), 'huge.png')]),
      () => post('/v1/tag', [file(png), { name: 'threshold', value: '7' }]),
      () => post('/v1/tag', [file(big, 'big.png')]), // a slow decode
    ];
    const sends = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? bad[(i / 3) % bad.length]! : good)());
    const replies = await Promise.all(sends);
    replies.forEach((r, i) => {
      if (i % 3 !== 0) {
        expect(r.statusCode).toBe(200);
        expect(r.json<TagBody>().results[0]!.scores).toEqual(alone); // same scores in a batch as alone
      } else expect([200, 400, 413]).toContain(r.statusCode);
    });
  });
});

describe('limits', () => {
  // which images share a call depends on how fast they are decoded; test/server/batcher.test.ts proves the sharing
  // without timing, this the server's wiring of it: every image counted once, no call above --max-batch
  test('concurrent requests go through the micro-batcher, counted in /metrics', async () => {
    const local = await buildApp({ model: bundle, prepWorkers: 1, maxBatch: 8 });
    try {
      const replies = await Promise.all(Array.from({ length: 24 }, () => local.inject({ method: 'POST', url: '/v1/tag', ...multipart([file(png)]) })));
      expect(replies.every((r) => r.statusCode === 200)).toBe(true);
      const metrics = (await local.inject('/metrics')).body;
      const calls = Number(/^tagbooru_batch_size_count (\d+)$/m.exec(metrics)?.[1]);
      const images = Number(/^tagbooru_batch_size_sum (\d+)$/m.exec(metrics)?.[1]);
      expect(images).toBe(24);
      expect(calls).toBeGreaterThan(0);
      expect(calls).toBeLessThanOrEqual(24);
      expect(Number(/^tagbooru_batch_size_bucket\{le="8"\} (\d+)$/m.exec(metrics)?.[1])).toBe(calls); // never above maxBatch
    } finally {
      await local.close();
    }
  });

  test('a full queue answers 503 with Retry-After at once; the admitted requests finish', async () => {
    const local = await buildApp({ model: bundle, prepWorkers: 1, queueSize: 2 });
    try {
      const replies = await Promise.all(Array.from({ length: 10 }, () => local.inject({ method: 'POST', url: '/v1/tag', ...multipart([file(png)]) })));
      const statuses = replies.map((r) => r.statusCode);
      expect(statuses.filter((s) => s === 200)).toHaveLength(2);
      expect(statuses.filter((s) => s === 503)).toHaveLength(8);
      const busy = replies.find((r) => r.statusCode === 503)!;
      expect(Number(busy.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(busy.json<ErrorBody>()).toMatchObject({ error: 'E_BUSY', message: expect.stringMatching(/busy: 2 tagging requests are in flight \(queue size 2\)/) as string });
      expect((await local.inject({ method: 'POST', url: '/v1/tag', ...multipart([file(png)]) })).statusCode).toBe(200); // places are given back
    } finally {
      await local.close();
    }
  });

  test('a request past its deadline answers 503; the next one is served', async () => {
    const local = await buildApp({ model: bundle, prepWorkers: 1, timeoutMs: 5 });
    try {
      const slow = await local.inject({ method: 'POST', url: '/v1/tag', ...multipart([file(big, 'big.png')]) });
      expect(slow.statusCode).toBe(503);
      expect(slow.json<ErrorBody>()).toEqual({ error: 'E_TIMEOUT', message: 'not answered within the request timeout of 5 ms' });
      expect(slow.headers['retry-after']).toBeDefined();
      const health = (await local.inject('/healthz')).json<{ inFlight: number }>();
      expect(health.inFlight).toBe(0);
    } finally {
      await local.close();
    }
  });

  test('API keys: the API and the metrics need one, the page does not, health says only "ok" without one', async () => {
    const key = 'k-0123456789';
    const local = await buildApp({ model: bundle, prepWorkers: 1, apiKeys: [key] });
    try {
      const none = await local.inject({ method: 'POST', url: '/evaluate', ...multipart([file(png)]) });
      expect(none.statusCode).toBe(401);
      expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
      expect((await local.inject('/v1/models')).statusCode).toBe(401);
      const wrong = await local.inject({ url: '/v1/models', headers: { 'x-api-key': 'nope' } });
      expect(wrong.json<ErrorBody>()).toEqual({ error: 'E_AUTH', message: 'the API key is not valid' });
      expect((await local.inject({ url: '/v1/models', headers: { 'x-api-key': key } })).statusCode).toBe(200);
      expect((await local.inject({ url: '/v1/models', headers: { authorization: `Bearer ${key}` } })).statusCode).toBe(200);
      expect((await local.inject({ url: '/v1/models', headers: { authorization: `Basic ${Buffer.from(`user:${key}`).toString('base64')}` } })).statusCode).toBe(200);
      expect((await local.inject('/')).statusCode).toBe(200);

      expect((await local.inject('/metrics')).statusCode).toBe(401);
      const scraped = await local.inject({ url: '/metrics', headers: { authorization: `Bearer ${key}` } });
      expect(scraped.statusCode).toBe(200);
      expect(scraped.body).toContain('tagbooru_http_requests_total{route="/metrics",method="GET",status="401"} 1');

      const probe = await local.inject('/healthz');
      expect(probe.statusCode).toBe(200);
      expect(probe.json()).toEqual({ status: 'ok' }); // no model name, no load figures
      const health = await local.inject({ url: '/healthz', headers: { 'x-api-key': key } });
      expect(health.json()).toMatchObject({ status: 'ok', model: 'test_tiny-64-untrained', inFlight: 0 });
      expect((await local.inject({ url: '/healthz', headers: { 'x-api-key': 'not-the-key' } })).statusCode).toBe(401);
    } finally {
      await local.close();
    }
  });

  test('CORS: the allowed origin gets its headers, preflight included; others get none', async () => {
    const local = await buildApp({ model: bundle, prepWorkers: 1, cors: ['https://booru.example'] });
    try {
      const preflight = await local.inject({ method: 'OPTIONS', url: '/v1/tag', headers: { origin: 'https://booru.example', 'access-control-request-method': 'POST' } });
      expect(preflight.statusCode).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe('https://booru.example');
      const ok = await local.inject({ url: '/v1/models', headers: { origin: 'https://booru.example' } });
      expect(ok.headers['access-control-allow-origin']).toBe('https://booru.example');
      const other = await local.inject({ url: '/v1/models', headers: { origin: 'https://evil.example' } });
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
      expect((await app.inject({ url: '/v1/models', headers: { origin: 'https://booru.example' } })).headers['access-control-allow-origin']).toBeUndefined(); // off by default
    } finally {
      await local.close();
    }
  });
});

describe('/metrics', () => {
  test('Prometheus text: requests by route and status, latency histogram, images, queue depth', async () => {
    const local = await buildApp({ model: bundle, prepWorkers: 1 });
    try {
      await local.inject({ method: 'POST', url: '/v1/tag', ...multipart([file(png), file(jpg, 'b.jpg', 'image/jpeg')]) });
      await local.inject({ method: 'POST', url: '/v1/tag', ...multipart([file(Buffer.from('x'), 'x.png')]) });
      const r = await local.inject('/metrics');
      expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      const text = r.body;
      expect(text).toContain('# TYPE tagbooru_http_requests_total counter');
      expect(text).toContain('tagbooru_http_requests_total{route="/v1/tag",method="POST",status="200"} 1');
      expect(text).toContain('tagbooru_http_requests_total{route="/v1/tag",method="POST",status="400"} 1');
      expect(text).toContain('# TYPE tagbooru_http_request_duration_seconds histogram');
      expect(text).toMatch(/^tagbooru_http_request_duration_seconds_bucket\{route="\/v1\/tag",le="\+Inf"\} 2$/m);
      expect(text).toMatch(/^tagbooru_http_request_duration_seconds_count\{route="\/v1\/tag"\} 2$/m);
      expect(text).toMatch(/^tagbooru_images_tagged_total 2$/m);
      expect(text).toMatch(/^tagbooru_images_rejected_total 1$/m);
      expect(text).toMatch(/^# TYPE tagbooru_queue_depth gauge\ntagbooru_queue_depth 0$/m);
      // every sample line is `name{labels} value`
      for (const line of text.trim().split('\n').filter((l) => !l.startsWith('#'))) expect(line).toMatch(/^[a-z_]+(\{[^}]*\})? [-+\d.eInf]+$/);
      // bucket counts never fall as `le` rises
      const buckets = [...text.matchAll(/^tagbooru_http_request_duration_seconds_bucket\{route="\/v1\/tag",le="[^"]+"\} (\d+)$/gm)].map((m) => Number(m[1]));
      expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
    } finally {
      await local.close();
    }
  });
});

describe('web UI files', () => {
  test('the page, its bundled script and style, and onnxruntime-web\'s wasm from node_modules', async () => {
    const page = await app.inject('/');
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const base = /data-ort-base="(\/ort\/[\d.]+\/)"/.exec(page.body)?.[1];
    expect(base).toBeDefined();
    const script = await app.inject('/app.js');
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toMatch(/^text\/javascript/);
    expect(script.body).toContain('ort.wasm.min.mjs');
    expect(script.body).not.toMatch(/from\s*["']\.\.\//); // bundled: no relative imports left
    expect((await app.inject('/app.css')).headers['content-type']).toMatch(/^text\/css/);
    const wasm = await app.inject(`${base}ort-wasm-simd-threaded.wasm`);
    expect(wasm.statusCode).toBe(200);
    expect(wasm.headers['content-type']).toBe('application/wasm');
    expect(wasm.rawPayload.subarray(0, 4)).toEqual(Buffer.from([0, 0x61, 0x73, 0x6d]));
    expect((await app.inject(`${base}../package.json`)).statusCode).toBe(404);
    expect((await app.inject(`${base}ort.node.min.mjs`)).statusCode).toBe(404);
  });

  test('a solid image tags the same whether sent as PNG or raw body', async () => {
    const solid = await fs.readFile(await solidImage(path.join(dir, 's.png'), 40, 30, [200, 30, 30]));
    const a = (await post('/v1/tag', [file(solid, 's.png'), { name: 'floor', value: '0' }])).json<TagBody>();
    const b = (await app.inject({ method: 'POST', url: '/v1/tag?floor=0&filename=s.png', payload: solid, headers: { 'content-type': 'image/png' } })).json<TagBody>();
    expect(a).toEqual(b);
  });
});

describe('tagbooru serve', () => {
  test('is a command with its options; bad ones fail before a port is bound', async () => {
    const help = await cli(['serve', '--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--model', '--host', '--port', '--max-batch', '--queue', '--timeout', '--body-timeout', '--max-upload', '--max-request', '--max-pixels', '--max-pixels-per-request', '--max-pixels-in-flight', '--api-key', '--cors']) expect(help.stdout).toContain(flag);
    expect(help.stdout).toMatch(/key on the API and \/metrics/);
    expect(help.stdout).toContain('GET /healthz answers {"status":"ok"} to anyone');
    const cases: [string[], RegExp][] = [
      [['--model', path.join(dir, 'nope')], /not a model bundle/],
      [['--model', bundle, '--port', '70000'], /between 0 and 65535 for --port/],
      [['--model', bundle, '--queue', '0'], /between 1 and 100000 for --queue/],
      [['--model', bundle, '--api-key', 'short'], /API keys of at least 8 characters/],
      [['--model', bundle, '--body-timeout', '0'], /Expected a number between 0\.001 and 3600 for --body-timeout but received "0"/],
      [['--model', bundle, '--max-request', '4096'], /Expected a number between 0\.001 and 2048 for --max-request but received "4096"/],
      [['--model', bundle, '--max-pixels-in-flight', '1.5'], /Expected an integer between 1 and \d+ for --max-pixels-in-flight but received "1\.5"/],
      // a request above the in-flight budget could never start
      [['--model', bundle, '--max-pixels-in-flight', '1000', '--max-pixels-per-request', '1001'], /Expected an integer between 1 and 1000 for --max-pixels-per-request but received "1001"/],
      [['--model', bundle, '--max-pixels-per-request', '400000001'], /Expected an integer between 1 and 400000000 for --max-pixels-per-request/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(['serve', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });
});

const fields = (entries: [string, string][]) => entries.map(([name, value]): Part => ({ name, value }));

/** `POST /v1/tag` with the CLI's caption options as fields: a `caption` per result when asked, the old shape otherwise. */
describe('/v1/tag caption fields', () => {
  test('the caption is the tags the request selected, arranged by the options as the CLI arranges them', async () => {
    const want = await oracle.tag({ name: 'a.png', data: png }, { threshold: 0 });
    const characters = want.tags.filter((t) => t.category === 'character').map((t) => t.name);
    const general = want.tags.filter((t) => t.category === 'general').map((t) => t.name);
    expect(characters).toHaveLength(2);
    const escape = (t: string) => t.replace(/_/g, ' ').replace(/([()])/g, '\\$1');
    const cases: [[string, string][], string][] = [
      [[['caption', '1']], want.tags.map((t) => t.name).join(', ')],
      [[['caption-separator', ' | ']], want.tags.map((t) => t.name).join(' | ')],
      [[['character-first', 'true'], ['with-rating', 'on'], ['replace-underscores', '1'], ['escape-parens', '1']],
        [want.rating!.name, ...characters, ...want.tags.filter((t) => t.category !== 'character').map((t) => t.name)].map(escape).join(', ')],
      // replacements repeated and comma separated, with an escaped comma in a target; a general tag cut by max-tags
      [[['replace', `${characters[0]}=miku\\, vocaloid`], ['replace', 'star_\\(sky\\)=star,vocaloid='], ['max-tags', '1'], ['always-first', general[0]!]],
        [general[0], ...want.tags.filter((t) => t.category !== 'general').map((t) => (t.name === characters[0] ? 'miku, vocaloid' : t.name))]
          .filter((t) => t !== 'vocaloid').join(', ')],
    ];
    for (const [extra, caption] of cases) {
      const r = await post('/v1/tag', [file(png), ...fields([['threshold', '0'], ...extra])]);
      expect(r.statusCode, JSON.stringify(extra)).toBe(200);
      const [result] = r.json<CaptionBody>().results;
      expect(result!.tags.map((t) => t.name)).toEqual(want.tags.map((t) => t.name));
      expect(result!.caption, JSON.stringify(extra)).toBe(caption);
    }
  });

  test('no caption field unless asked; caption=0 turns it off; an image in error gets caption null', async () => {
    const plain = (await post('/v1/tag', [file(png)])).json<CaptionBody>().results[0]!;
    expect(Object.keys(plain).sort()).toEqual(['error', 'file', 'rating', 'tags']);
    const off = (await post('/v1/tag', [file(png), ...fields([['caption', '0'], ['caption-separator', ';']])])).json<CaptionBody>().results[0]!;
    expect(off).not.toHaveProperty('caption');
    const mixed = (await post('/v1/tag', [file(png), file(Buffer.from('not an image'), 'x.png'), ...fields([['caption', 'yes']])])).json<CaptionBody>().results;
    expect(mixed[0]!.caption).toBe(mixed[0]!.tags.map((t) => t.name).join(', '));
    expect(mixed[1]).toMatchObject({ file: 'x.png', caption: null });
    expect(mixed[1]!.error).toMatch(/not a recognised image format/);
  });

  test('a separator in the query keeps its spaces', async () => {
    const r = await app.inject({ method: 'POST', url: '/v1/tag?filename=a.png&threshold=0&top-k=3&caption-separator=%20%7C%20', payload: png, headers: { 'content-type': 'image/png' } });
    const [result] = r.json<CaptionBody>().results;
    expect(result!.caption).toBe(result!.tags.map((t) => t.name).join(' | '));
  });

  test.each([
    [[['max-tags', 'many']], /Expected an integer between 0 and 1000000 for max-tags but received "many"/],
    [[['replace', 'long_hair']], /Expected from=to \(\\, and \\= for a literal comma or equals sign\) for replace but received "long_hair"/],
    [[['caption-separator', '']], /Expected one or more characters such as ", " for caption-separator but received ""/],
    [[['caption-separator', ', '], ['caption-separator', ';']], /Expected one value for caption-separator/],
    [[['character-first', 'maybe']], /Expected true or false for character-first but received "maybe"/],
    [[['caption', '2']], /Expected true or false for caption but received "2"/],
    [[['caption-extension', '.txt']], /unknown field "caption-extension"/],
  ] as [[string, string][], RegExp][])('%j: 400 naming the field', async (extra, message) => {
    const r = await post('/v1/tag', [file(png), ...fields(extra)]);
    expect(r.statusCode).toBe(400);
    expect(r.json<{ error: string; message: string }>()).toMatchObject({ error: 'E_USAGE', message: expect.stringMatching(message) as string });
  });
});
