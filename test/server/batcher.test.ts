/**
 * Micro-batching without timing: a predictor that answers only when the test lets it, so which images share a
 * call is decided by the queue alone (the route test in routes.test.ts checks the same through the server,
 * where a loaded machine may deliver images one at a time).
 */
import { expect, test } from 'vitest';
import { MicroBatcher, type Predictor } from '../../src/server/batcher.ts';

/** Each call waits until `release()`; its scores are the inputs' first floats, so results can be matched to images. */
function heldPredictor() {
  const calls: { count: number; release: () => void }[] = [];
  const predictor: Predictor = {
    predict: (batch, count) => new Promise((resolve) => {
      calls.push({ count, release: () => resolve(Float32Array.from({ length: count }, (_, i) => batch[i * 2]!)) });
    }),
  };
  return { predictor, calls };
}

const image = (id: number) => Float32Array.of(id, 0);
const ticks = () => new Promise((r) => setImmediate(r));

test('images arriving while the worker is busy go together in the next call, each answered with its own scores', async () => {
  const { predictor, calls } = heldPredictor();
  const batcher = new MicroBatcher([predictor], { maxBatch: 8, inputSize: 2, outputSize: 1 });
  const first = batcher.run([image(1)]);
  const rest = [2, 3, 4, 5, 6].map((id) => batcher.run([image(id)]));
  await ticks();
  expect(calls.map((c) => c.count)).toEqual([1]); // a lone request pays no batching delay
  expect(batcher.depth).toBe(5);
  calls[0]!.release();
  expect([...(await first)[0]!]).toEqual([1]);
  await ticks();
  expect(calls.map((c) => c.count)).toEqual([1, 5]);
  calls[1]!.release();
  expect((await Promise.all(rest)).map((r) => r[0]![0])).toEqual([2, 3, 4, 5, 6]);
});

test('a queue longer than maxBatch is cut into calls of at most maxBatch, in arrival order', async () => {
  const { predictor, calls } = heldPredictor();
  const batcher = new MicroBatcher([predictor], { maxBatch: 8, inputSize: 2, outputSize: 1 });
  const busy = batcher.run([image(0)]);
  const waiting = Array.from({ length: 20 }, (_, i) => batcher.run([image(i + 1)]));
  for (let k = 0; k < 4; k++) {
    await ticks();
    calls[k]!.release();
  }
  await busy;
  expect(calls.map((c) => c.count)).toEqual([1, 8, 8, 4]);
  expect((await Promise.all(waiting)).map((r) => r[0]![0])).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
});
