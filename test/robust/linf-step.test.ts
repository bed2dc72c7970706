import { afterAll, describe, expect, test } from 'vitest';
import { Rng } from '../../src/models/random.ts';
import { openLinfStepper, type LinfStepper } from '../../src/robust/linf-step.ts';

describe('the L∞ step in ONNX Runtime', () => {
  let stepper: LinfStepper | undefined;
  afterAll(() => stepper?.close());

  test('equals clip(x − η·sign(g), lo, hi) in float32, pixel for pixel, with each image its own η', async () => {
    stepper = await openLinfStepper();
    const rng = new Rng(5);
    const n = 3, d = 1000, eps = 8 / 255;
    const x0 = Float32Array.from({ length: n * d }, (_, j) => (j % 11 === 0 ? 0 : j % 11 === 1 ? 1 : rng.next()));
    const lo = x0.map((v) => Math.max(0, v - eps)), hi = x0.map((v) => Math.min(1, v + eps));
    // iterates anywhere in the box, many on its faces (where the projection decides)
    const x = x0.map((_, j) => [lo[j]!, hi[j]!, lo[j]! + rng.next() * (hi[j]! - lo[j]!)][j % 3]!);
    // signs from zeros (both), the smallest normal floats, huge and infinite values
    const special = [0, -0, 2 ** -126, -(2 ** -126), 1e-30, -1e30, Infinity, -Infinity];
    const g = Float32Array.from({ length: n * d }, (_, j) => (j % 5 === 0 ? special[(j / 5) % special.length]! : rng.uniform(-1, 1)));
    const eta = [2 / 255, 0.5 / 255, 9 / 255];
    const next = await stepper.step(x, g, { lo, hi }, eta);
    const want = Float32Array.from(x, (v, j) => {
      const s = g[j]! > 0 ? 1 : g[j]! < 0 ? -1 : 0;
      return Math.min(Math.max(Math.fround(v - Math.fround(eta[Math.floor(j / d)]!) * s), lo[j]!), hi[j]!);
    });
    expect(next).toEqual(want);
    // the step moved pixels both ways and the faces held
    expect(next.some((v, j) => v > x[j]!) && next.some((v, j) => v < x[j]!)).toBe(true);
    expect(next.every((v, j) => v >= lo[j]! && v <= hi[j]!)).toBe(true);
  });
});
