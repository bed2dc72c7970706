import { describe, expect, test } from 'vitest';
import { Rng } from '../../src/models/random.ts';
import { squareAttack, squareFraction } from '../../src/robust/square.ts';

describe('the Square attack (L∞, score-based)', () => {
  const W = 12, H = 10, n = 2, size = W * H * 3, eps = 0.05;
  const rng = new Rng(3);
  const x0 = Float32Array.from({ length: n * size }, (_, i) => (i % 11 === 0 ? 0 : i % 11 === 1 ? 1 : rng.next()));
  const w = Float32Array.from({ length: size }, () => rng.uniform(-1, 1));
  /** A linear score: the best L∞ perturbation is −ε·sign(w), so the attack has a known floor to approach. */
  const loss = (x: Float32Array, a: number) => w.reduce((acc, wj, j) => acc + wj * x[a * size + j]!, 0);

  test('every candidate stays in the ε-ball ∩ [0, 1]; the reported loss is that of the kept image; queries are counted per image', async () => {
    const losses: number[][] = [[], []];
    let worst = 0, outside = 0;
    const r = await squareAttack((x, images) => {
      images.forEach((i, a) => {
        for (let j = 0; j < size; j++) {
          const v = x[a * size + j]!;
          if (v < 0 || v > 1) outside++;
          worst = Math.max(worst, Math.abs(v - x0[i * size + j]!));
        }
      });
      const l = Float32Array.from(images, (_, a) => loss(x, a));
      return Promise.resolve({ loss: l, done: images.map(() => false) });
    }, x0, n, { eps, queries: 200, width: W, height: H, rng: () => rng.next() });
    expect(outside).toBe(0);
    expect(worst).toBeLessThanOrEqual(eps + 1e-6);
    expect([...r.queries]).toEqual([200, 200]);
    for (let i = 0; i < n; i++) {
      losses[i]!.push(loss(r.x, i));
      const floor = w.reduce((acc, wj, j) => acc + wj * Math.min(1, Math.max(0, x0[i * size + j]! - eps * Math.sign(wj))), 0);
      const clean = loss(x0, i);
      // a random search on an unstructured (per-pixel) loss, its worst case: still a third of the way in 200 queries
      expect((clean - r.loss[i]!) / (clean - floor)).toBeGreaterThan(0.25);
      expect(r.loss[i]).toBeCloseTo(losses[i]![0]!, 3);
    }
  });

  test('an image that reaches its goal stops being queried', async () => {
    const r = await squareAttack((_x, images) => Promise.resolve({ loss: new Float32Array(images.length), done: images.map((i) => i === 0) }), x0, n, { eps, queries: 50, width: W, height: H, rng: () => rng.next() });
    expect([...r.queries]).toEqual([1, 50]);
    expect(r.done).toEqual([true, false]);
  });

  test('the window schedule halves p at the paper\'s iterations, rescaled to the budget', () => {
    expect(squareFraction(0.05, 0, 10000)).toBe(0.05);
    expect(squareFraction(0.05, 11, 10000)).toBe(0.025);
    expect(squareFraction(0.05, 8001, 10000)).toBeCloseTo(0.05 / 512, 10);
    expect(squareFraction(0.05, 6, 1000)).toBe(0.0125); // 60 of 10,000: past 10 and 50
  });
});
