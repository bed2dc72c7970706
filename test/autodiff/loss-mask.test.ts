/**
 * The loss mask (DESIGN.md decision 13): an unknown entry contributes exactly nothing, and the known ones
 * are averaged as Σ m·ℓ / max(1, Σ m), which with every label known is the plain mean the step had before.
 */
import { describe, expect, test } from 'vitest';
import { FEED, FETCH, buildTrainingStep } from '../../src/autodiff/step-graph.ts';
import { ModelSession, type TensorData } from '../../src/infer/session.ts';
import { buildModel } from '../../src/models/registry.ts';
import { variables } from '../../src/models/shapes.ts';
import { Rng } from '../../src/models/random.ts';
import { referenceLoss } from '../oracle/training.ts';
import { randomWeights } from './_harness.ts';

const TAGS = 5, BATCH = 3, SIZE = 16;
const spec = buildModel('test_tiny', { tags: TAGS, imageSize: [SIZE, SIZE] });

async function gradients(loss: 'binary_crossentropy' | 'focal_loss' | 'asymmetric_loss') {
  const step = buildTrainingStep(spec, { batch: BATCH, loss, optimizer: { name: 'sgd' }, outputs: 'gradients' });
  const session = await ModelSession.create(step.model, { threads: 1 });
  const weights = randomWeights(spec, 3);
  const rng = new Rng(9);
  const x = Float32Array.from({ length: BATCH * SIZE * SIZE * 3 }, () => rng.next());
  const run = async (labels: Float32Array, mask: Float32Array) => {
    const feeds: Record<string, TensorData> = { [FEED.x]: { data: x, dims: [BATCH, SIZE, SIZE, 3] }, [FEED.labels]: { data: labels, dims: [BATCH, TAGS] }, [FEED.mask]: { data: mask, dims: [BATCH, TAGS] } };
    for (const v of step.variables) feeds[FEED.weight(v.key)] = { data: weights.get(v.key)!, dims: v.shape };
    return session.run(feeds);
  };
  return { run, close: () => session.release() };
}

const grads = (out: Record<string, TensorData>) => variables(spec).filter((v) => v.trainable).map((v) => out[FETCH.grad(v.key)]!.data);

describe('loss mask', () => {
  for (const loss of ['binary_crossentropy', 'focal_loss', 'asymmetric_loss'] as const) {
    test(`${loss}: flipping an unknown label changes neither the loss nor any gradient`, async () => {
      const { run, close } = await gradients(loss);
      const labels = Float32Array.from({ length: BATCH * TAGS }, (_, i) => (i % 3 === 0 ? 1 : 0));
      const mask = new Float32Array(BATCH * TAGS).fill(1);
      mask[4] = 0;
      mask[7] = 0;
      const flipped = labels.slice();
      flipped[4] = 1 - flipped[4]!;
      flipped[7] = 1 - flipped[7]!;
      const a = await run(labels, mask), b = await run(flipped, mask);
      expect(b[FETCH.loss]!.data[0]).toBe(a[FETCH.loss]!.data[0]);
      grads(b).forEach((g, k) => expect(g).toEqual(grads(a)[k]));
      // and the same flip with the entries known does move them: the test can fail
      const c = await run(flipped, new Float32Array(BATCH * TAGS).fill(1)), d = await run(labels, new Float32Array(BATCH * TAGS).fill(1));
      expect(c[FETCH.loss]!.data[0]).not.toBe(d[FETCH.loss]!.data[0]);
      // the value is the mean over the 13 known entries, not over all 15
      const probs = a[FETCH.probs]!.data, logits = Array.from(probs, (p) => Math.log(p / (1 - p)));
      expect(a[FETCH.loss]!.data[0]).toBeCloseTo(referenceLoss(loss, logits, labels, mask), 5);
      await close();
    }, 30_000);
  }

  test('an all-unknown batch is a zero loss and zero gradients, not NaN', async () => {
    const { run, close } = await gradients('binary_crossentropy');
    const out = await run(new Float32Array(BATCH * TAGS).fill(1), new Float32Array(BATCH * TAGS));
    expect(out[FETCH.loss]!.data[0]).toBe(0);
    for (const g of grads(out)) expect(g.every((v) => v === 0)).toBe(true);
    await close();
  }, 30_000);
});
