/** Killing a library's worker thread in the middle of a call, as a crash, an OOM or `terminate()` would. */
import { expect } from 'vitest';
import type { TagbooruError } from '../../src/errors.ts';
import { liveWorkers, type WorkerClient } from '../../src/workers/client.ts';

type Client = WorkerClient<unknown, unknown, unknown>;

/**
 * A death dealt from outside while the worker holds the call, or one from inside armed to meet the next call.
 * The outside death holds the call in JavaScript first: terminating a thread inside ONNX Runtime's native `run`
 * aborts the whole process (onnxruntime-node throws from its addon into a terminated environment).
 */
export interface Kill {
  readonly before: (worker: Client) => void;
  readonly during?: (worker: Client) => void;
}

/** The two deaths every worker test goes through. */
export const KILLS: readonly [string, Kill][] = [
  ['terminate()', { before: (w) => w.holdNextCall(), during: (w) => void w.thread.terminate() }],
  // what a native crash or an out-of-memory abort does to the thread, without taking the test process along
  ['process.exit(1) inside the worker', { before: (w) => w.exitInNextCall(1) }],
];

/** The live worker of that name with a request in hand, as soon as there is one. */
export const busyWorker = (name: string): Promise<Client> => worker(name, (w) => w.load > 0);

/** The live worker of that name, as soon as one passes the test. */
async function worker(name: string, test: (w: Client) => boolean, timeoutMs = 30_000): Promise<Client> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const found = liveWorkers().find((w) => w.spec.name === name && test(w));
    if (found) return found;
    if (performance.now() > until) throw new Error(`no ${name} was found within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/**
 * Kills the named worker in the middle of the call `start()` makes, and resolves with the call's rejection once
 * it has checked that it is an E_WORKER that came within a second of the death. The worker must be running
 * before the call.
 */
export async function killMidCall(name: string, start: () => Promise<unknown>, kill: Kill): Promise<TagbooruError> {
  const w = await worker(name, () => true);
  let died = Infinity; // when it was killed from outside, or died by itself
  w.whenDead(() => (died = Math.min(died, performance.now())));
  kill.before(w);
  const outcome = start().then(
    () => expect.fail('the call succeeded although its worker was killed'),
    (e: unknown) => ({ error: e as TagbooruError, at: performance.now() }),
  );
  if (kill.during) {
    await worker(name, (c) => c === w && c.load > 0);
    died = performance.now();
    kill.during(w);
  }
  const { error, at } = await outcome;
  expect(error).toMatchObject({ name: 'TagbooruError', code: 'E_WORKER' });
  expect(at - died, 'ms from the death to the rejection').toBeLessThan(1000);
  return error;
}
