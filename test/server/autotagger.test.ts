/**
 * `POST /evaluate` against what Danbooru's AutotaggerClient (app/logical/autotagger_client.rb) sends and reads:
 * `http.post("#{url}/evaluate", form: { file: HTTP::FormData::File.new(file), threshold: confidence, format: "json" })`
 * then `response.parse.first["tags"]`, a hash of tag name → confidence.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTagger, type Tagger } from '../../src/index.ts';
import { buildApp } from '../../src/server/app.ts';
import { noiseImage } from '../helpers/images.ts';
import { makeBundle, multipart, TAGS } from './_fixtures.ts';

let dir: string, app: FastifyInstance, oracle: Tagger, jpg: Buffer, png: Buffer;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-autotagger-'));
  const bundle = await makeBundle(dir, 11);
  jpg = await fs.readFile(await noiseImage(path.join(dir, 'a.jpg'), 360, 270, 5));
  png = await fs.readFile(await noiseImage(path.join(dir, 'b.png'), 200, 300, 6));
  app = await buildApp({ model: bundle, prepWorkers: 1 });
  oracle = await createTagger(bundle);
});

afterAll(async () => {
  await app?.close();
  await oracle?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

/** The body http.rb's HTTP::FormData::Multipart writes: boundary of 21 dashes + 42 hex digits, file first. */
function danbooruRequest(image: Buffer, filename: string, fields: [string, string][]) {
  const boundary = `${'-'.repeat(21)}${'0123456789abcdef0123456789abcdef0123456789'}`;
  const crlf = '\r\n';
  const payload = Buffer.concat([
    Buffer.from(`--${boundary}${crlf}Content-Disposition: form-data; name="file"; filename="${filename}"${crlf}Content-Type: application/octet-stream${crlf}${crlf}`),
    image,
    Buffer.from(crlf),
    ...fields.map(([k, v]) => Buffer.from(`--${boundary}${crlf}Content-Disposition: form-data; name="${k}"${crlf}${crlf}${v}${crlf}`)),
    Buffer.from(`--${boundary}--${crlf}`),
  ]);
  return {
    method: 'POST' as const,
    url: '/evaluate',
    payload,
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'user-agent': 'http.rb/5.1.1', connection: 'close', 'content-length': String(payload.length) },
  };
}

const LETTER: Record<string, string> = { general: 'g', sensitive: 's', questionable: 'q', explicit: 'e' };
const danbooruName = (t: { name: string; category: string }) => (t.category === 'rating' ? `rating:${LETTER[t.name]}` : t.name);

/** What autotagger would answer: every tag ≥ threshold, highest first, at most `limit`, scores to 4 places. */
async function expected(image: Buffer, threshold: number, limit: number): Promise<[string, number][]> {
  const { scores } = await oracle.tag({ name: 'x', data: image }, { scores: true });
  return TAGS.map((t, i) => [danbooruName(t), scores![i]!] as [string, number])
    .filter(([, s]) => s >= threshold)
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([n, s]) => [n, Math.round(s * 10000) / 10000]);
}

describe('POST /evaluate (danbooru/autotagger)', () => {
  test('Danbooru\'s request, byte for byte: [{filename, tags}] with every tag ≥ 0.01, highest first', async () => {
    const r = await app.inject(danbooruRequest(jpg, '7f3b2a.jpg', [['threshold', '0.01'], ['format', 'json']]));
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = JSON.parse(r.body) as unknown;
    expect(Array.isArray(body)).toBe(true);
    const [first] = body as Record<string, unknown>[];
    expect(Object.keys(first!)).toEqual(['filename', 'tags']);
    expect(first!.filename).toBe('7f3b2a.jpg');
    const tags = first!.tags as Record<string, number>;
    expect(Object.entries(tags)).toEqual(await expected(jpg, 0.01, 50));
    // what Danbooru does with it: AITag score = (100 * confidence).round, rating tags as rating:<letter>
    for (const [name, score] of Object.entries(tags)) {
      expect(typeof score).toBe('number');
      expect(Math.round(100 * score)).toBeGreaterThanOrEqual(1);
      expect(Math.round(100 * score)).toBeLessThanOrEqual(100);
      if (name.startsWith('rating:')) expect(name).toMatch(/^rating:[gsqe]$/);
    }
    expect(Object.keys(tags).filter((n) => n.startsWith('rating:'))).toHaveLength(4);
  });

  test('with `limit`: the top `limit` tags', async () => {
    const r = await app.inject(danbooruRequest(jpg, 'a.jpg', [['threshold', '0.01'], ['limit', '3'], ['format', 'json']]));
    const [first] = r.json<{ filename: string; tags: Record<string, number> }[]>();
    expect(Object.entries(first!.tags)).toEqual(await expected(jpg, 0.01, 3));
    expect(Object.keys(first!.tags)).toHaveLength(3);
  });

  test('defaults: threshold 0.1, limit 50', async () => {
    const r = await app.inject({ method: 'POST', url: '/evaluate?format=json', ...multipart([{ name: 'file', value: jpg, filename: 'a.jpg' }]) });
    expect(Object.entries(r.json<{ tags: Record<string, number> }[]>()[0]!.tags)).toEqual(await expected(jpg, 0.1, 50));
  });

  test('repeated `file` fields: one entry per file, in order', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/evaluate',
      ...multipart([{ name: 'file', value: jpg, filename: 'one.jpg' }, { name: 'file', value: png, filename: 'two.png' }, { name: 'format', value: 'json' }, { name: 'threshold', value: '0.5' }]),
    });
    const body = r.json<{ filename: string; tags: Record<string, number> }[]>();
    expect(body.map((b) => b.filename)).toEqual(['one.jpg', 'two.png']);
    expect(Object.entries(body[1]!.tags)).toEqual(await expected(png, 0.5, 50));
  });

  test('format=html (the default): a page with the image and its tags', async () => {
    const r = await app.inject({ method: 'POST', url: '/evaluate', ...multipart([{ name: 'file', value: png, filename: 'two<b>.png', type: 'image/png' }]) });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.body).toContain('src="data:image/png;base64,');
    expect(r.body).toContain('two&#60;b&#62;.png');
    for (const [name] of await expected(png, 0.1, 50)) expect(r.body).toContain(`<td>${name}</td>`);
  });

  test('markup in a file name, a Content-Type or an error is text; the image is shown as the type decoded', async () => {
    const name = '<img src=x onerror=alert(1)>.png';
    const type = 'image/png"><script>alert(1)</script>';
    const r = await app.inject({ method: 'POST', url: '/evaluate', ...multipart([{ name: 'file', value: jpg, filename: name, type }]) });
    expect(r.statusCode).toBe(200);
    expect(r.body).not.toMatch(/<script|<img src=x|image\/png"/);
    expect(r.body).toContain('<h2>&#60;img src=x onerror=alert(1)&#62;.png</h2>');
    expect(r.body).toContain('src="data:image/jpeg;base64,'); // the bytes are a JPEG, whatever the header said
    expect(r.headers['content-security-policy']).toMatch(/script-src 'self' 'wasm-unsafe-eval';.*frame-ancestors 'none'/);
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect(r.headers['x-content-type-options']).toBe('nosniff');

    const bad = await app.inject({ method: 'POST', url: '/evaluate', ...multipart([{ name: 'file', value: Buffer.from('not an image'), filename: name, type }]) });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('<p>&#34;&#60;img src=x onerror=alert(1)&#62;.png&#34;: ');
    expect(bad.body).not.toMatch(/<img src=x/);
    expect(bad.headers['content-security-policy']).toBeDefined();
  });

  test('the policy goes on every HTML answer, the web UI\'s too, and nosniff on every answer', async () => {
    const ui = await app.inject('/');
    expect(ui.headers['content-type']).toMatch(/^text\/html/);
    expect(ui.headers['content-security-policy']).toMatch(/default-src 'self'/);
    const json = await app.inject('/v1/models');
    expect(json.headers['x-content-type-options']).toBe('nosniff');
    expect(json.headers['content-security-policy']).toBeUndefined(); // keyed on the content type, not the route
  });

  test('errors: {error, message} with the status for JSON clients, a page for browsers', async () => {
    const bad = await app.inject(danbooruRequest(Buffer.from('GIF89a but not really'), 'x.gif', [['threshold', '0.01'], ['format', 'json']]));
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({ error: 'E_IMAGE', message: expect.stringMatching(/^"x\.gif": /) as string });
    const format = await app.inject(danbooruRequest(jpg, 'a.jpg', [['format', 'xml']]));
    expect(format.statusCode).toBe(400);
    expect(format.json<{ message: string }>().message).toBe('Expected one of html, json for format but received "xml"');
    const limit = await app.inject(danbooruRequest(jpg, 'a.jpg', [['limit', '-1'], ['format', 'json']]));
    expect(limit.json<{ message: string }>().message).toMatch(/for limit but received "-1"/);
    const form = multipart([{ name: 'file', value: Buffer.from('no'), filename: 'x.png' }]);
    const page = await app.inject({ method: 'POST', url: '/evaluate', payload: form.payload, headers: { ...form.headers, accept: 'text/html,application/xhtml+xml' } });
    expect(page.statusCode).toBe(400);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
  });
});
