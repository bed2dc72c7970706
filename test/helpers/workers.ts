/** Killing a library's worker thread in the middle of a call, as a crash, an OOM or `terminate()` would. */
import { expect } from 'vitest';
import type { TagbooruError } from '../../src/errors.ts';
import { liveWorkers, type WorkerClient } from '../../src/workers/client.ts';

type Client = WorkerClient<unknown, unknown, unknown>;

/** The two deaths every worker test goes through: from outside, and from inside the thread. */
export const KILLS: readonly [string, (worker: Client) => void][] = [
  ['terminate()', (w) => void w.thread.terminate()],
  // what a native crash or an out-of-memory abort does to the thread, without taking the test process along
  ['process.exit(1) inside the worker', (w) => w.exitForTest(1)],
];

/** The live worker of that name with a request in hand, as soon as there is one. */
export async function busyWorker(name: string, timeoutMs = 30_000): Promise<Client> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const busy = liveWorkers().find((w) => w.spec.name === name && w.load > 0);
    if (busy) return busy;
    if (performance.now() > until) throw new Error(`no ${name} had a request within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Kills the named worker once `call` is inside it; resolves with the E_WORKER the call rejected with. */
export async function killMidCall(name: string, call: Promise<unknown>, kill: (worker: Client) => void): Promise<TagbooruError> {
  const outcome = call.then(
    () => expect.fail('the call succeeded although its worker was killed'),
    (e: unknown) => ({ error: e as TagbooruError, at: performance.now() }),
  );
  const worker = await busyWorker(name);
  const killed = performance.now();
  kill(worker);
  const { error, at } = await outcome;
  expect(error).toMatchObject({ name: 'TagbooruError', code: 'E_WORKER' });
  expect(at - killed, 'time from the kill to the rejection (ms)').toBeLessThan(1000);
  return error;
}
