/**
 * The server keeps serving when a tagging or explain worker dies in the middle of a request: that request is
 * answered 503 with E_WORKER, the pool starts a new worker, the next request is 200, and /metrics counts it.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { TagbooruError, type ErrorCode } from '../../src/errors.ts';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_MODEL_DIR } from '../../src/package.ts';
import { buildApp } from '../../src/server/app.ts';
import { noiseImage } from '../helpers/images.ts';
import { KILLS, killMidCall } from '../helpers/workers.ts';
import { multipart, type Part } from './_fixtures.ts';

let dir: string, app: FastifyInstance, png: Buffer;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-server-death-'));
  png = await fs.readFile(await noiseImage(path.join(dir, 'a.png'), 300, 200, 1));
  app = await buildApp({ model: DEFAULT_MODEL_DIR, prepWorkers: 1 });
});

afterAll(async () => {
  await app?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

const files = (n: number): Part[] => Array.from({ length: n }, (_, i) => ({ name: 'file', value: png, filename: `${i}.png`, type: 'image/png' }));
const post = (url: string, parts: Part[]) => app.inject({ method: 'POST', url, ...multipart(parts) });
const respawns = async (pool: string) => {
  const text = (await app.inject('/metrics')).body;
  return Number(new RegExp(`^tagbooru_worker_respawns_total\\{pool="${pool}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
};

describe.each([
  { route: '/v1/tag', worker: 'the inference worker', pool: 'inference', parts: () => files(4) },
  { route: '/v1/explain', worker: 'the explain worker', pool: 'explain', parts: () => [...files(1), { name: 'method', value: 'gradcam' }] },
])('$route', ({ route, worker, pool, parts }) => {
  test.each(KILLS)('its worker killed by %s: 503 E_WORKER, then 200 on a new worker, counted in /metrics', async (_, kill) => {
    expect((await post(route, parts())).statusCode).toBe(200); // the explain worker starts on its first request
    const before = await respawns(pool);
    let failed: LightMyRequestResponse | undefined;
    const error = await killMidCall(worker, async () => {
      failed = await post(route, parts());
      if (failed.statusCode === 200) return failed;
      throw new TagbooruError(failed.json<{ error: ErrorCode }>().error, failed.json<{ message: string }>().message);
    }, kill);
    expect(failed!.statusCode).toBe(503);
    expect(failed!.headers['retry-after']).toBe('1');
    expect(error.message).toMatch(new RegExp(`^${worker} stopped \\(exit code 1\\) with 1 request unanswered; a new one is starting: `));
    const next = await post(route, parts());
    expect(next.statusCode, next.body).toBe(200);
    expect(await respawns(pool)).toBe(before + 1);
  });
});
