/**
 * The decoded-pixel budget: alone (limits, waiting in line, aborts, partial release), then in the server with the
 * bundled model, where a request that gave up keeps its running decodes counted until they finish and its
 * unstarted ones are dropped at once.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../src/server/app.ts';
import { HttpError } from '../../src/server/errors.ts';
import { resolveOptions } from '../../src/server/options.ts';
import { PixelBudget } from '../../src/server/pixel-budget.ts';
import { solidImage } from '../helpers/images.ts';
import { multipart, type Part } from './_fixtures.ts';

const live = new AbortController().signal;
const settled = async <T>(p: Promise<T>) => Promise.race([p.then(() => 'granted', (e: Error) => e), new Promise((resolve) => setTimeout(() => resolve('waiting'), 20))]);

describe('PixelBudget', () => {
  test('a request above either limit is refused at once with 413 naming the limit and the figure', async () => {
    const budget = new PixelBudget({ perRequest: 1000, inFlight: 1500 });
    await expect(budget.reserve([600, 401], live)).rejects.toThrow(new HttpError('E_TOO_LARGE', 'the images declare 1,001 pixels together, above the limit of 1,000 pixels per request (--max-pixels-per-request)'));
    const wide = new PixelBudget({ perRequest: 2000, inFlight: 1500 });
    await expect(wide.reserve([1501], live)).rejects.toThrow(/1,501 pixels together, above the server's limit of 1,500 pixels decoding at once \(--max-pixels-in-flight\)/);
    expect(budget.reserved + wide.reserved).toBe(0);
  });

  test('one that fits later waits its turn, first come first served, and gets in as images are given back', async () => {
    const budget = new PixelBudget({ perRequest: 1000, inFlight: 1000 });
    const first = await budget.reserve([400, 400], live);
    const second = budget.reserve([500], live);
    const third = budget.reserve([100], live); // would fit now, but not ahead of the second
    expect(await settled(second)).toBe('waiting');
    expect(await settled(third)).toBe('waiting');
    first.release(400);
    expect(await settled(second)).toBe('granted');
    expect(await settled(third)).toBe('granted');
    expect(budget.reserved).toBe(400 + 500 + 100);
    first.release(400);
    first.release(400); // more than was reserved gives back nothing
    expect(budget.reserved).toBe(600);
  });

  test('an abort while waiting leaves the line with the signal\'s reason and lets the next one in', async () => {
    const budget = new PixelBudget({ perRequest: 1000, inFlight: 1000 });
    const held = await budget.reserve([700], live);
    const controller = new AbortController();
    const big = budget.reserve([900], controller.signal);
    const small = budget.reserve([300], live);
    expect(await settled(small)).toBe('waiting');
    controller.abort(new HttpError('E_TIMEOUT', 'gone'));
    await expect(big).rejects.toThrow('gone');
    expect(await settled(small)).toBe('granted');
    held.release(700);
    expect(budget.reserved).toBe(300);
  });
});

test('the server options: the per-request limit within the in-flight one, each limit named with its range', () => {
  expect(() => resolveOptions({ model: 'm', maxPixelsInFlight: 1000, maxPixelsPerRequest: 1001 })).toThrow('Expected integer between 1 and 1000 for maxPixelsPerRequest but received 1001');
  expect(() => resolveOptions({ model: 'm', maxRequestBytes: 0 })).toThrow(/between 1 and 2147483648 for maxRequestBytes but received 0/);
  expect(() => resolveOptions({ model: 'm', bodyTimeoutMs: 1.5 })).toThrow(/integer between 1 and 3600000 for bodyTimeoutMs but received 1\.5/);
  expect(resolveOptions({ model: 'm' })).toMatchObject({ maxPixelsPerRequest: 200_000_000, maxPixelsInFlight: 400_000_000, maxRequestBytes: 64 * 2 ** 20, bodyTimeoutMs: 30_000 });
});

describe('in the server', () => {
  const SIDE = 6000;
  let dir: string, huge: Buffer;
  const file = (value: Uint8Array, filename: string): Part => ({ name: 'file', value, filename, type: 'image/png' });

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-pixels-'));
    huge = await fs.readFile(await solidImage(path.join(dir, 'huge.png'), SIDE, SIDE, [10, 200, 40]));
  }, 60_000);

  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('a request past its deadline drops its unstarted images at once and keeps its decoding ones counted until they finish', async () => {
    const app = await buildApp({ model: 'models/default', prepWorkers: 1, timeoutMs: 300 });
    try {
      const images = 5; // one more than a worker takes at once, within the per-request limit
      const r = await app.inject({ method: 'POST', url: '/v1/tag', ...multipart(Array.from({ length: images }, (_, i) => file(huge, `${i}.png`))) });
      expect(r.statusCode).toBe(503);
      expect(r.json<{ error: string }>().error).toBe('E_TIMEOUT');
      const reserved = () => app.inject('/healthz').then((h) => h.json<{ pixelsReserved: number }>().pixelsReserved);
      const after = await reserved();
      expect(after).toBeGreaterThan(0); // the decodes under way still hold their memory
      expect(after).toBeLessThan(images * SIDE * SIDE); // the waiting ones were dropped
      await expect.poll(reserved, { timeout: 30_000, interval: 100 }).toBe(0);
    } finally {
      await app.close();
    }
  }, 60_000);

  test('requests that together pass the in-flight budget are served one after the other', async () => {
    const app = await buildApp({ model: 'models/default', prepWorkers: 1, maxPixelsPerRequest: SIDE * SIDE, maxPixelsInFlight: SIDE * SIDE });
    try {
      const replies = await Promise.all([0, 1, 2].map((i) => app.inject({ method: 'POST', url: '/v1/tag', ...multipart([file(huge, `${i}.png`)]) })));
      expect(replies.map((r) => r.statusCode)).toEqual([200, 200, 200]);
      const over = await app.inject({ method: 'POST', url: '/v1/tag', ...multipart([file(huge, 'a.png'), file(huge, 'b.png')]) });
      expect(over.statusCode).toBe(413);
      expect(over.json<{ message: string }>().message).toMatch(/72,000,000 pixels together, above the limit of 36,000,000 pixels per request/);
    } finally {
      await app.close();
    }
  }, 60_000);
});
