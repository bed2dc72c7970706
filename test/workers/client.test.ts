/** One worker behind the protocol: handshake, ids, transfers, coded errors both ways, and every kind of death. */
import { afterEach, describe, expect, test } from 'vitest';
import { TagbooruError } from '../../src/errors.ts';
import { WorkerClient, liveWorkers, type WorkerSpec } from '../../src/workers/client.ts';
import type { FixtureInit, FixtureRequest } from './_fixture-worker.ts';

const spec = (init: FixtureInit = {}): WorkerSpec => ({
  name: 'the test worker',
  module: new URL('./_fixture-worker.ts', import.meta.url).href,
  init,
  retry: 'start another to retry',
  uncoded: 'E_MODEL',
});
const start = (init?: FixtureInit) => WorkerClient.start<FixtureRequest, unknown, { pid: number }>(spec(init));
const opened: WorkerClient<FixtureRequest, unknown, { pid: number }>[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()));
});
const started = async (init?: FixtureInit) => {
  const c = await start(init);
  opened.push(c);
  return c;
};

/** The rejection of `call`, and how long after `kill` it came. */
async function rejection(call: Promise<unknown>, kill: () => void): Promise<{ error: TagbooruError; ms: number }> {
  const at = performance.now();
  kill();
  const error = await call.then(() => expect.fail('the call resolved'), (e: unknown) => e as TagbooruError);
  return { error, ms: performance.now() - at };
}

test('ready carries the worker\'s info; answers come back by id, whatever their order', async () => {
  const c = await started();
  expect(c.info.pid).toBe(process.pid);
  const slow = c.call({ op: 'wait', ms: 200 });
  const fast = c.call({ op: 'echo', value: { a: [1, 2] } });
  expect(await fast).toEqual({ a: [1, 2] });
  expect(await slow).toBe(200);
  expect(c.load).toBe(0);
});

test('a transfer list moves the buffers both ways', async () => {
  const c = await started();
  const data = new Float64Array([1, 2, 3.5]);
  const sum = c.call({ op: 'sum', data }, [data.buffer]);
  expect(data.buffer.byteLength).toBe(0); // moved, not copied
  expect([...((await sum) as Float64Array)]).toEqual([6.5]);
});

describe('errors keep their code, message and cause across the thread boundary', () => {
  test('a TagbooruError thrown in the worker arrives as one, with its code', async () => {
    const c = await started();
    const e = await c.call({ op: 'usage' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TagbooruError);
    expect(e).toMatchObject({ code: 'E_USAGE', message: 'Expected --image-size of at least 224 but received 64', cause: '2×2 is too small' });
    expect(c.alive).toBe(true);
    expect(await c.call({ op: 'echo', value: 1 })).toBe(1); // a failed request is not a dead worker
  });

  test('an uncoded error takes the worker\'s default code', async () => {
    const c = await started();
    await expect(c.call({ op: 'plain' })).rejects.toMatchObject({ code: 'E_MODEL', message: 'an invariant broke' });
  });

  test('a start that fails says why with its own code', async () => {
    await expect(start({ failStart: 'E_BUNDLE' })).rejects.toMatchObject({ code: 'E_BUNDLE', message: 'the bundle has no model.onnx', cause: 'ENOENT' });
  });
});

describe('a dead worker rejects every pending and every later call with E_WORKER', () => {
  const kinds: [string, (c: WorkerClient<FixtureRequest, unknown, { pid: number }>) => void, RegExp][] = [
    ['terminate()', (c) => void c.thread.terminate(), /^the test worker stopped \(exit code 1\) with 2 requests unanswered; start another to retry$/],
    ['process.exit inside, in a call', (c) => (c.exitInNextCall(3), void c.call({ op: 'echo', value: 0 }).catch(() => undefined)), /^the test worker stopped \(exit code 3\) with 3 requests unanswered; start another to retry$/],
    ['an uncaught exception', (c) => void c.call({ op: 'uncaught' }).catch(() => undefined), /^the test worker stopped \(exit code 1: native-like crash\) with 3 requests unanswered; start another to retry$/],
  ];
  test.each(kinds)('%s', async (_, kill, message) => {
    const c = await started();
    const hanging = Promise.all([c.call({ op: 'hang' }), c.call({ op: 'hang' })]);
    const { error, ms } = await rejection(hanging, () => kill(c));
    expect(ms).toBeLessThan(1000);
    expect(error).toBeInstanceOf(TagbooruError);
    expect(error.code).toBe('E_WORKER');
    expect(error.message).toMatch(message);
    expect(c.alive).toBe(false);
    await expect(c.call({ op: 'echo', value: 1 })).rejects.toBe(error);
    expect(liveWorkers()).not.toContain(c);
  });

  test('a worker that dies before it is ready fails its start with E_WORKER', async () => {
    await expect(start({ dieAtStartIf: new URL(import.meta.url).pathname })).rejects.toMatchObject({
      code: 'E_WORKER',
      message: 'the test worker stopped while starting (exit code 7)',
    });
  });

  test('close() rejects what is pending and says it was closed', async () => {
    const c = await start();
    const pending = c.call({ op: 'hang' });
    await c.close();
    await expect(pending).rejects.toMatchObject({ code: 'E_WORKER', message: 'the test worker was closed; start another to retry' });
  });
});
