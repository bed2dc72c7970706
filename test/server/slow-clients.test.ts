/**
 * Clients that send slowly, too much, or many files, against a real server on 127.0.0.1 with the bundled model:
 * a trickling upload holds no place in the tagging queue and is cut off with 408 (in the API's JSON) at the
 * body timeout, the request size counts every part, and a request of many files trips no Node warning.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildApp } from '../../src/server/app.ts';
import { answerClientError } from '../../src/server/body.ts';
import { noiseImage } from '../helpers/images.ts';
import { multipart, type Part } from './_fixtures.ts';

const BODY_TIMEOUT_MS = 1500;
const QUEUE = 4;
const TRICKLERS = 20;

let dir: string, app: FastifyInstance, port: number, png: Buffer;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-slow-'));
  png = await fs.readFile(await noiseImage(path.join(dir, 'a.png'), 120, 80, 1));
  app = await buildApp({ model: 'models/default', prepWorkers: 1, queueSize: QUEUE, bodyTimeoutMs: BODY_TIMEOUT_MS, maxUploadBytes: 1 << 20, maxRequestBytes: 1.5 * 2 ** 20 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as net.AddressInfo).port;
}, 60_000);

afterAll(async () => {
  await app?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const file = (value: Uint8Array, filename = 'a.png'): Part => ({ name: 'file', value, filename, type: 'image/png' });

interface Trickler {
  /** Everything the server wrote back, once it closed the connection. */
  readonly reply: Promise<{ text: string; ms: number }>;
  stop(): void;
}

/** A raw connection that sends its headers, then its body one byte per 100 ms. */
function trickle(head: string, body: Buffer): Trickler {
  const socket = net.connect(port, '127.0.0.1');
  const started = performance.now();
  let sent = 0;
  socket.write(head);
  const timer = setInterval(() => {
    if (sent < body.length && socket.writable) socket.write(body.subarray(sent, ++sent));
  }, 100);
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString()));
  socket.on('error', () => undefined); // the server may reset a connection it has answered
  const reply = new Promise<{ text: string; ms: number }>((resolve) => socket.once('close', () => {
    clearInterval(timer);
    resolve({ text, ms: performance.now() - started });
  }));
  return { reply, stop: () => socket.destroy() };
}

function multipartTrickler(): Trickler {
  const { payload, headers } = multipart([file(png)]);
  return trickle(`POST /v1/tag HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${headers['content-type']}\r\nContent-Length: ${payload.length}\r\n\r\n`, payload);
}

function rawTrickler(): Trickler {
  return trickle(`POST /v1/tag HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nContent-Length: ${png.length}\r\n\r\n`, png);
}

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]);
const bodyOf = (text: string) => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as unknown;

async function tagNormally(): Promise<number> {
  const { payload, headers } = multipart([file(png)]);
  const r = await fetch(`http://127.0.0.1:${port}/v1/tag`, { method: 'POST', body: payload, headers });
  await r.arrayBuffer();
  return r.status;
}

test(`${TRICKLERS} clients trickling uploads hold no queue place (queue ${QUEUE}); each is cut off with 408 JSON at the body timeout`, async () => {
  const tricklers = [...Array.from({ length: TRICKLERS - 1 }, multipartTrickler), rawTrickler()];
  try {
    await new Promise((resolve) => setTimeout(resolve, 400)); // every trickler's headers are in
    const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { inFlight: number };
    expect(health.inFlight).toBe(0);
    expect(await Promise.all([tagNormally(), tagNormally()])).toEqual([200, 200]);

    const replies = await Promise.all(tricklers.map((t) => t.reply));
    for (const r of replies) {
      expect(statusOf(r.text), r.text).toBe(408);
      expect(r.text).toMatch(/\r\nconnection: close\r\n/i);
      expect(bodyOf(r.text)).toEqual({ error: 'E_BODY_TIMEOUT', message: `the request body did not arrive within the body timeout of ${BODY_TIMEOUT_MS} ms` });
      expect(r.ms).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
      expect(r.ms).toBeLessThan(BODY_TIMEOUT_MS + 8000); // generous: a loaded machine
    }
  } finally {
    for (const t of tricklers) t.stop();
  }
  expect(await tagNormally()).toBe(200);
}, 30_000);

test('the request size limit counts every part: two files under the upload limit, over the request limit, give 413', async () => {
  const parts = [file(Buffer.alloc(1_000_000), 'a.png'), file(Buffer.alloc(1_000_000), 'b.png')];
  const message = { error: 'E_TOO_LARGE', message: 'the request body is larger than the request size limit of 1572864 bytes (--max-request)' };
  // declared in Content-Length: refused before the body is read
  const declared = await app.inject({ method: 'POST', url: '/v1/tag', ...multipart(parts) });
  expect(declared.statusCode).toBe(413);
  expect(declared.json()).toEqual(message);
  // chunked, with no length declared: refused as the bytes arrive
  const { payload, headers } = multipart(parts);
  const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/tag', headers }, (response) => {
      let body = '';
      response.on('data', (d: Buffer) => (body += d.toString()));
      response.on('end', () => resolve({ status: response.statusCode!, body }));
    });
    request.on('error', reject);
    for (let at = 0; at < payload.length; at += 64 * 1024) request.write(payload.subarray(at, at + 64 * 1024));
    request.end();
  });
  expect(chunked.status).toBe(413);
  expect(JSON.parse(chunked.body)).toEqual(message);
});

test('a request of more than ten files raises no MaxListeners warning', async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  try {
    const r = await app.inject({ method: 'POST', url: '/v1/tag', ...multipart(Array.from({ length: 12 }, (_, i) => file(png, `${i}.png`))) });
    expect(r.statusCode).toBe(200);
    expect(r.json<{ results: unknown[] }>().results).toHaveLength(12);
    await new Promise((resolve) => setTimeout(resolve, 50)); // warnings are emitted on a later tick
  } finally {
    process.off('warning', onWarning);
  }
  expect(warnings.map((w) => `${w.name}: ${w.message}`)).toEqual([]);
});

test('what Node answers itself (headers too large, a request past its time) comes in the API\'s JSON too', async () => {
  const big = trickle(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, Buffer.alloc(0));
  const { text } = await big.reply;
  expect(statusOf(text)).toBe(431);
  expect(bodyOf(text)).toEqual({ error: 'E_TOO_LARGE', message: 'the request headers are larger than the header size limit' });
  // Node's requestTimeout is checked every 30 s: its answer is read from the handler, on a socket of our own
  const socket = new PassThrough().on('error', () => undefined); // the handler destroys it with Node's error
  answerClientError(Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket);
  const written = String(socket.read());
  expect(statusOf(written)).toBe(408);
  expect(bodyOf(written)).toEqual({ error: 'E_BODY_TIMEOUT', message: 'the request did not arrive within the request timeout' });
});
