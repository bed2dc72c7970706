import { afterAll, describe, expect, test } from 'vitest';
import { Rng } from '../../src/models/random.ts';
import { attackBatch, type AttackSettings } from '../../src/robust/attack.ts';
import { UNDEFENDED } from '../../src/robust/defended.ts';
import { logit } from '../../src/robust/goals.ts';
import { apgdCheckpoints, pgd, type Norm } from '../../src/robust/pgd.ts';
import { linearSpec } from '../helpers/linear-spec.ts';
import { preprocessFor, victimOf } from './_victim.ts';

describe('PGD keeps every iterate in the ε-ball ∩ [0, 1]', () => {
  // a loss whose unconstrained minimum lies far outside both sets, from a start with pixels at 0 and 1
  const n = 3, size = 300;
  const rng = new Rng(1);
  const x0 = Float32Array.from({ length: n * size }, (_, i) => (i % 7 === 0 ? 0 : i % 7 === 1 ? 1 : rng.next()));
  const w = Float32Array.from({ length: n * size }, () => rng.uniform(-1, 1));
  const objective = (x: Float32Array) => Promise.resolve({
    loss: Float32Array.from({ length: n }, (_, i) => 1 + w.subarray(i * size, (i + 1) * size).reduce((a, v, j) => a + v * x[i * size + j]! + 0.1 * x[i * size + j]! ** 2, 0)),
    grad: Float32Array.from(x, (v, j) => w[j]! + 0.2 * v),
  });
  for (const [norm, eps] of [['linf', 8 / 255], ['l2', 1.5]] as [Norm, number][]) {
    for (const schedule of ['pgd', 'apgd'] as const) {
      test(`${norm}, ${schedule}`, async () => {
        let seen = 0, worst = 0, outside = 0;
        await pgd(objective, x0, n, {
          norm, eps, steps: 30, schedule, randomStart: true, rng: () => rng.next(), stepSize: schedule === 'pgd' ? eps / 3 : undefined,
          observe: (x) => {
            seen++;
            for (let i = 0; i < n; i++) {
              let linf = 0, sq = 0;
              for (let j = i * size; j < (i + 1) * size; j++) {
                if (x[j]! < 0 || x[j]! > 1) outside++;
                linf = Math.max(linf, Math.abs(x[j]! - x0[j]!));
                sq += (x[j]! - x0[j]!) ** 2;
              }
              worst = Math.max(worst, (norm === 'linf' ? linf : Math.sqrt(sq)) / eps);
            }
          },
        });
        expect(seen).toBe(31);
        expect(outside).toBe(0);
        expect(worst).toBeLessThanOrEqual(1 + 1e-6);
        expect(worst, 'the iterates reach the boundary').toBeGreaterThan(0.99);
      });
    }
  }

  test('apgd checkpoints follow Croce & Hein: 22 %, then shrinking gaps of at least 6 %', () => {
    expect([...apgdCheckpoints(100)]).toEqual([22, 41, 57, 70, 80, 87, 93, 99]);
  });
});

describe('a linear 2-tag model, where the optimal attack is known in closed form', () => {
  // logits z = W·v + b with v = (x − mean)/std per channel (BGR): ∂z/∂x = W·(1/std), so the L∞-optimal δ is −ε·sign(W/std) = −ε·sign(W)
  const h = 4, w = 5, d = h * w * 3;
  const spec = linearSpec(h, w, 2);
  const rng = new Rng(2);
  const kernel = Float32Array.from({ length: d * 2 }, () => rng.uniform(-1, 1) * (rng.next() < 0.1 ? 0 : 1));
  const bias = Float32Array.of(0.5, -0.5);
  const pre = preprocessFor(spec);
  const victim = victimOf(spec, new Map([['head/kernel', kernel], ['head/bias', bias]]), pre);
  afterAll(async () => (await victim).close());
  const x0 = Float32Array.from({ length: d }, () => rng.uniform(0.2, 0.8));
  const tensorChannel = (j: number) => 2 - (j % 3); // BGR: pixel channel c sits at tensor channel 2 − c
  const pixelGrad = Float64Array.from({ length: d }, (_, j) => kernel[((j - (j % 3)) + tensorChannel(j)) * 2]! * 255 * pre.scale / pre.std[j % 3]!);
  const z0 = (() => {
    let z = bias[0]!;
    for (let j = 0; j < d; j++) z += kernel[((j - (j % 3)) + tensorChannel(j)) * 2]! * ((255 * x0[j]! * pre.scale - pre.mean[j % 3]!) / pre.std[j % 3]!);
    return z;
  })();
  const l1 = pixelGrad.reduce((a, g) => a + Math.abs(g), 0), l2 = Math.sqrt(pixelGrad.reduce((a, g) => a + g * g, 0));
  const settings = (norm: Norm, eps: number): AttackSettings => ({
    method: 'pgd', norm, eps, steps: 40, stepSize: norm === 'linf' ? eps / 4 : eps / 4, restarts: 1, threat: UNDEFENDED, seed: 1,
    // keep 0: only the target's margin term, pulled 100 logits past the threshold, so the optimum is the closed form
    loss: { margin: 100, keep: 0 },
  });
  // tag 0 selected on the clean image at a threshold just below σ(z0)
  const thresholds = Float64Array.of(1 / (1 + Math.exp(-(z0 - 0.1))), 0.999);

  test('L∞: PGD reaches δ = −ε·sign(∂z/∂x) exactly', async () => {
    const eps = 4 / 255;
    const [r] = await attackBatch(await victim, x0, [{ kind: 'hide', tag: 0 }], thresholds, settings('linf', eps));
    expect(r!.applies).toBe(true);
    let off = 0;
    for (let j = 0; j < d; j++) {
      const expected = pixelGrad[j] === 0 ? null : -eps * Math.sign(pixelGrad[j]!);
      if (expected !== null) off = Math.max(off, Math.abs(r!.x[j]! - x0[j]! - expected));
    }
    expect(off).toBeLessThan(1e-6);
    expect(r!.advLogits[0]).toBeCloseTo(z0 - eps * l1, 3);
  });

  test('L2: PGD reaches δ = −ε·∇z/‖∇z‖₂', async () => {
    const eps = 0.3;
    const [r] = await attackBatch(await victim, x0, [{ kind: 'hide', tag: 0 }], thresholds, settings('l2', eps));
    let dot = 0, sq = 0;
    for (let j = 0; j < d; j++) {
      const dj = r!.x[j]! - x0[j]!;
      dot += -dj * pixelGrad[j]!;
      sq += dj * dj;
    }
    expect(Math.sqrt(sq)).toBeCloseTo(eps, 5);
    expect(dot / (Math.sqrt(sq) * l2)).toBeGreaterThan(0.9999);
    expect(r!.advLogits[0]).toBeCloseTo(z0 - eps * l2, 2);
  });

  test('success is exactly whether z0 − ε‖∇z‖₁ crosses the threshold', async () => {
    const v = await victim;
    // the threshold's logit sits 0.5 below z0: ε* = 0.5 / ‖∇z‖₁ is the smallest budget that hides the tag
    const th = Float64Array.of(1 / (1 + Math.exp(-(z0 - 0.5))), 0.999);
    const critical = 0.5 / l1;
    const below = await attackBatch(v, x0, [{ kind: 'hide', tag: 0 }], th, settings('linf', critical * 0.9));
    const above = await attackBatch(v, x0, [{ kind: 'hide', tag: 0 }], th, settings('linf', critical * 1.1));
    expect(below[0]!.outcome.success).toBe(false);
    expect(above[0]!.outcome.success).toBe(true);
    expect(logit(th[0]!)).toBeCloseTo(z0 - 0.5, 4);
  });
});
