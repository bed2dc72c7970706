/** The bundle's input dims and the logits → probability rule, shared by tagging and explaining. */
import { expect, test } from 'vitest';
import { inputDims, toProbabilities } from '../../src/infer/model-io.ts';

test('input dims follow the layout', () => {
  expect(inputDims({ width: 4, height: 3, layout: 'NCHW' }, 2)).toEqual([2, 3, 3, 4]);
  expect(inputDims({ width: 4, height: 3, layout: 'NHWC' }, 2)).toEqual([2, 3, 4, 3]);
});

test('logits get the sigmoid, probabilities are left alone', () => {
  const logits = Float32Array.of(0, Math.log(3), -Math.log(3));
  const tags = [{ name: 'a', category: 'general' }];
  expect([...toProbabilities(logits, { output: { name: 'out', activation: 'logits' }, tags })].map((p) => Number(p.toFixed(6)))).toEqual([0.5, 0.75, 0.25]);
  expect([...toProbabilities(Float32Array.of(0.25, 2), { output: { name: 'out', activation: 'sigmoid' }, tags })]).toEqual([0.25, 2]);
});

test('a calibrated tag gets its calibration of the logit, in every row; the others are left as they are', () => {
  const tags = [{ name: 'a', category: 'general' }, { name: 'b', category: 'general' }];
  const calibration = { method: 'platt' as const, tags: { a: { a: 0.5, b: -1 } }, provenance: {} };
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  // two images × two tags, a logits head: a is sigmoid(0.5·z − 1), b is sigmoid(z)
  const out = toProbabilities(Float32Array.of(2, 2, -4, 1), { output: { name: 'out', activation: 'logits' }, tags, calibration });
  expect([...out]).toEqual([sig(0), sig(2), sig(-3), sig(1)].map(Math.fround));
  // a sigmoid head: the logit of p is calibrated
  const probs = toProbabilities(Float32Array.of(sig(2), 0.3), { output: { name: 'out', activation: 'sigmoid' }, tags, calibration });
  expect(probs[0]).toBeCloseTo(0.5, 6);
  expect(probs[1]).toBe(Math.fround(0.3));
});
