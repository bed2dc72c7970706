/** The bundle's input dims and the logits → probability rule, shared by tagging and explaining. */
import { expect, test } from 'vitest';
import { inputDims, toProbabilities } from '../../src/infer/model-io.ts';

test('input dims follow the layout', () => {
  expect(inputDims({ width: 4, height: 3, layout: 'NCHW' }, 2)).toEqual([2, 3, 3, 4]);
  expect(inputDims({ width: 4, height: 3, layout: 'NHWC' }, 2)).toEqual([2, 3, 4, 3]);
});

test('logits get the sigmoid, probabilities are left alone', () => {
  const logits = Float32Array.of(0, Math.log(3), -Math.log(3));
  expect([...toProbabilities(logits, { name: 'out', activation: 'logits' })].map((p) => Number(p.toFixed(6)))).toEqual([0.5, 0.75, 0.25]);
  expect([...toProbabilities(Float32Array.of(0.25, 2), { name: 'out', activation: 'sigmoid' })]).toEqual([0.25, 2]);
});
