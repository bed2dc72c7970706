/**
 * The distillation loss's value and its two limits (losses.ts, withDistillation): α = 0 is the masked hard
 * loss bit for bit, and a teacher whose probabilities are the labels (0/1 at T = 1) makes the soft term the
 * hard BCE. Its gradient is checked against finite differences in gradcheck.test.ts.
 */
import { describe, expect, test } from 'vitest';
import type { DistillationOptions } from '../../src/autodiff/losses.ts';
import { FEED, FETCH, buildTrainingStep } from '../../src/autodiff/step-graph.ts';
import { ModelSession, type TensorData } from '../../src/infer/session.ts';
import { buildModel } from '../../src/models/registry.ts';
import { variables } from '../../src/models/shapes.ts';
import { Rng } from '../../src/models/random.ts';
import { referenceDistillationLoss, referenceLoss, referenceSoftLoss } from '../oracle/training.ts';
import { randomWeights } from './_harness.ts';

const TAGS = 6, BATCH = 3, SIZE = 16;
const spec = buildModel('test_tiny', { tags: TAGS, imageSize: [SIZE, SIZE] });
const weights = randomWeights(spec, 11);
const rng = new Rng(13);
const x = Float32Array.from({ length: BATCH * SIZE * SIZE * 3 }, () => rng.next());
const labels = Float32Array.from({ length: BATCH * TAGS }, () => (rng.next() < 0.4 ? 1 : 0));
const mask = Float32Array.from({ length: BATCH * TAGS }, (_, i) => (i % 5 === 2 ? 0 : 1));
const teacherLogits = Float32Array.from({ length: BATCH * TAGS }, () => 3 * rng.normal());
// the teacher lacks tag 4 (a student tag it was never trained on)
const teacherMask = Float32Array.from({ length: BATCH * TAGS }, (_, i) => (i % TAGS === 4 ? 0 : 1));

interface Teacher {
  readonly logits: Float32Array;
  readonly mask: Float32Array;
}

async function run(distillation: DistillationOptions | undefined, teacher: Teacher = { logits: teacherLogits, mask: teacherMask }) {
  const step = buildTrainingStep(spec, { batch: BATCH, loss: 'binary_crossentropy', optimizer: { name: 'sgd' }, outputs: 'gradients', distillation });
  const session = await ModelSession.create(step.model, { threads: 1 });
  const dims = [BATCH, TAGS];
  const feeds: Record<string, TensorData> = { [FEED.x]: { data: x, dims: [BATCH, SIZE, SIZE, 3] }, [FEED.labels]: { data: labels, dims }, [FEED.mask]: { data: mask, dims } };
  if (distillation) {
    feeds[FEED.teacher] = { data: teacher.logits, dims };
    feeds[FEED.teacherMask] = { data: teacher.mask, dims };
  }
  for (const v of step.variables) feeds[FEED.weight(v.key)] = { data: weights.get(v.key)!, dims: v.shape };
  const out = await session.run(feeds);
  await session.release();
  const probs = out[FETCH.probs]!.data;
  return {
    loss: out[FETCH.loss]!.data[0]!,
    logits: Array.from(probs, (p) => Math.log(p / (1 - p))),
    grads: variables(spec).filter((v) => v.trainable).map((v) => out[FETCH.grad(v.key)]!.data),
  };
}

describe('distillation loss', () => {
  test('its value is (1 − α)·masked BCE + α·T²·soft BCE over the tags the teacher knows', async () => {
    const plain = await run(undefined);
    for (const o of [{ alpha: 0.5, temperature: 2 }, { alpha: 0.8, temperature: 0.7 }]) {
      const d = await run(o);
      const reference = referenceDistillationLoss('binary_crossentropy', plain.logits, labels, mask, { logits: teacherLogits, mask: teacherMask, ...o });
      expect(d.loss).toBeCloseTo(reference, 5);
      // and the soft term is no rounding error: it moves the loss well away from the hard one
      expect(Math.abs(d.loss - plain.loss)).toBeGreaterThan(0.05);
    }
    // the soft term averages over its own mask (16 known entries of 18), not over the labels' mask
    const soft = referenceSoftLoss(plain.logits, { logits: teacherLogits, mask: teacherMask, alpha: 1, temperature: 1 });
    expect((await run({ alpha: 1, temperature: 1 })).loss).toBeCloseTo(soft, 5);
  }, 30_000);

  test('α = 0 is exactly the masked hard loss: the same value and the same gradients, bit for bit', async () => {
    const plain = await run(undefined), d = await run({ alpha: 0, temperature: 3 });
    expect(d.loss).toBe(plain.loss);
    d.grads.forEach((g, k) => expect(g).toEqual(plain.grads[k]));
    expect(plain.loss).toBeCloseTo(referenceLoss('binary_crossentropy', plain.logits, labels, mask), 5);
  }, 30_000);

  test('a teacher whose probabilities are the labels (0/1 at T = 1) makes the soft term the hard BCE', async () => {
    // logits of ±40: σ is 0 or 1 to float32's precision; the soft mask is the label mask
    const asLabels = { logits: labels.map((t) => (t > 0.5 ? 40 : -40)), mask };
    const plain = await run(undefined), soft = await run({ alpha: 1, temperature: 1 }, asLabels);
    expect(soft.loss).toBeCloseTo(plain.loss, 6);
    soft.grads.forEach((g, k) => g.forEach((v, i) => expect(v).toBeCloseTo(plain.grads[k]![i]!, 6)));
    // and any mix of the two is the same loss again
    expect((await run({ alpha: 0.4, temperature: 1 }, asLabels)).loss).toBeCloseTo(plain.loss, 6);
  }, 30_000);
});
