/** Workers in a pool: least-loaded dispatch, a dead worker replaced, a worker that keeps dying at start given up. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import type { WorkerSpec } from '../../src/workers/client.ts';
import { MAX_FAILED_STARTS, WorkerPool } from '../../src/workers/pool.ts';
import type { FixtureInit, FixtureRequest } from './_fixture-worker.ts';

type Pool = WorkerPool<FixtureRequest, unknown, { pid: number }>;
const spec = (init: FixtureInit = {}): WorkerSpec => ({
  name: 'a test worker',
  module: new URL('./_fixture-worker.ts', import.meta.url).href,
  init,
  retry: 'a new one is starting: try again',
});
const pools: Pool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});
const started = async (size: number, respawn: boolean, init?: FixtureInit) => {
  const pool: Pool = await WorkerPool.start(spec(init), { size, respawn });
  pools.push(pool);
  return pool;
};
/** The live workers' threads, through the pool's internals: which one a request went to. */
const clients = (pool: Pool) => (pool as unknown as { slots: { client: { load: number; thread: { terminate(): Promise<number> } } | null }[] }).slots.map((s) => s.client);

test('requests go to the least loaded worker', async () => {
  const pool = await started(3, false);
  const hangs = Array.from({ length: 6 }, () => pool.call({ op: 'hang' }).catch(() => undefined));
  expect(clients(pool).map((c) => c!.load)).toEqual([2, 2, 2]);
  expect(pool.leastLoad).toBe(2);
  void hangs;
});

test('a dead worker fails only its own calls, within a second; the pool replaces it and counts it', async () => {
  const pool = await started(2, true);
  const [a, b] = clients(pool);
  const onA = pool.call({ op: 'hang' });
  const onB = pool.call({ op: 'wait', ms: 300 });
  const at = performance.now();
  void a!.thread.terminate();
  await expect(onA).rejects.toMatchObject({ code: 'E_WORKER', message: 'a test worker stopped (exit code 1) with 1 request unanswered; a new one is starting: try again' });
  expect(performance.now() - at).toBeLessThan(1000);
  expect(await onB).toBe(300);
  expect(b!.load).toBe(0);
  await expect.poll(() => pool.respawns, { timeout: 10_000 }).toBe(1);
  expect(await Promise.all([pool.call({ op: 'echo', value: 1 }), pool.call({ op: 'echo', value: 2 })])).toEqual([1, 2]);
});

test('a call while every worker is dead waits for the replacement', async () => {
  const pool = await started(1, true);
  await clients(pool)[0]!.thread.terminate();
  expect(await pool.call({ op: 'echo', value: 'after' })).toBe('after');
  expect(pool.respawns).toBe(1);
});

test('without respawn, every call after the death fails with E_WORKER', async () => {
  const pool = await started(1, false);
  const pending = pool.call({ op: 'hang' });
  await clients(pool)[0]!.thread.terminate();
  await expect(pending).rejects.toMatchObject({ code: 'E_WORKER' });
  await expect(pool.call({ op: 'echo', value: 1 })).rejects.toMatchObject({ code: 'E_WORKER', message: /^a test worker stopped \(exit code 1\)/ });
  expect(pool.broken?.code).toBe('E_WORKER');
});

test('a worker that dies at every start is retried with pauses, then given up with a clear E_WORKER', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-pool-'));
  const poison = path.join(dir, 'die');
  try {
    const pool = await started(1, true, { dieAtStartIf: poison });
    await fs.writeFile(poison, '');
    const at = performance.now();
    await clients(pool)[0]!.thread.terminate();
    const error = await pool.call({ op: 'echo', value: 1 }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'E_WORKER',
      message: `a test worker died and failed to start again ${MAX_FAILED_STARTS} times in a row, so no new one will be started (last failure: a test worker stopped while starting (exit code 7))`,
    });
    // pauses of 100, 200, 400 and 800 ms between the five starts: no spinning
    expect(performance.now() - at).toBeGreaterThan(1500);
    expect(pool.respawns).toBe(0);
    await expect(pool.call({ op: 'echo', value: 1 })).rejects.toBe(error); // at once from now on
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a lazy pool starts its worker on the first call; a failed start is the call\'s error, and the next call tries again', async () => {
  const pool: Pool = new WorkerPool(spec({ failStart: 'E_BUNDLE' }), { size: 1, respawn: true });
  pools.push(pool);
  expect(clients(pool)).toEqual([null]);
  await expect(pool.call({ op: 'echo', value: 1 })).rejects.toMatchObject({ code: 'E_BUNDLE' });
  await expect(pool.call({ op: 'echo', value: 1 })).rejects.toMatchObject({ code: 'E_BUNDLE' });
  expect(pool.broken).toBeNull();
});
