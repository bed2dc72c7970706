import { afterAll, describe, expect, test } from 'vitest';
import { PRESETS, type PreprocessSpec } from '../../src/image/spec.ts';
import { Rng } from '../../src/models/random.ts';
import { byteNorms, mapBack } from '../../src/robust/full-size.ts';
import { fullSizeVictim } from '../../src/robust/full-size-victim.ts';
import { modelPixels } from '../../src/robust/pixel-space.ts';
import { geometryOperators } from '../../src/robust/resize-operator.ts';
import { linearSpec } from '../helpers/linear-spec.ts';
import { victimOf } from './_victim.ts';

// a landscape original under DeepDanbooru's geometry (TF area resize, then edge padding top and bottom)
const spec: PreprocessSpec = { ...PRESETS.deepdanbooru, width: 16, height: 16 };
const W = 41, H = 27;
const rng = new Rng(4);
const image = { data: Uint8Array.from({ length: W * H * 3 }, () => 40 + rng.int(170)), width: W, height: H, channels: 3 as const };

describe('the preprocessing as two banded linear maps, measured with impulses', () => {
  test('A_y · image · A_xᵀ reproduces the real preprocessing, padding included', () => {
    const { x: ax, y: ay } = geometryOperators(W, H, spec);
    expect([ax.rows, ax.cols, ay.rows, ay.cols]).toEqual([16, W, 16, H]);
    const real = modelPixels(image, spec);
    let worst = 0;
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < 16; i++) {
        for (let j = 0; j < 16; j++) {
          let acc = 0;
          ay.weights[i]!.forEach((wy, a) => ax.weights[j]!.forEach((wx, b) => (acc += wy * wx * image.data[((ay.start[i]! + a) * W + ax.start[j]! + b) * 3 + c]! / 255)));
          worst = Math.max(worst, Math.abs(acc - real[(i * 16 + j) * 3 + c]!));
        }
      }
    }
    expect(worst).toBeLessThan(1e-5);
  });

  /** ‖preprocess(adv) − preprocess(original) − δ‖ / ‖δ‖ for δ mapped back under an L∞ budget of 8/255. */
  function survival(delta: Float32Array): { rel: number; linf: number } {
    const adv = mapBack(image, delta, spec, 8 / 255);
    const before = modelPixels(image, spec), after = modelPixels(adv, spec);
    let err = 0, size = 0;
    for (let p = 0; p < delta.length; p++) {
      err += (after[p]! - before[p]! - delta[p]!) ** 2;
      size += delta[p]! ** 2;
    }
    return { rel: Math.sqrt(err / size), linf: byteNorms(image.data, adv.data).linf };
  }

  test('a perturbation mapped back onto the original survives its preprocessing, within the L∞ budget', () => {
    const eps = 8 / 255;
    // blocks of one sign: reproducible up to byte rounding
    const blocks = survival(Float32Array.from({ length: 16 * 16 * 3 }, (_, p) => eps * Math.sign(Math.sin(Math.floor(p / 48) / 2.5 + 0.1) * Math.cos(((p / 3) % 16) / 3 + 0.1))));
    expect(blocks.rel).toBeLessThan(0.2);
    expect(blocks.linf).toBeLessThanOrEqual(8);
    // an independent ±ε per pixel cannot be reproduced under the same bound where a 2.5× downscale mixes neighbours
    const noise = survival(Float32Array.from({ length: 16 * 16 * 3 }, () => (rng.next() < 0.5 ? -eps : eps)));
    expect(noise.rel).toBeLessThan(0.75);
    expect(noise.linf).toBeLessThanOrEqual(8);
  });
});

describe('the attack in the original\'s space (--space full)', () => {
  // a linear model, so central differences are exact up to float32 rounding
  const ls = linearSpec(16, 16, 2);
  const r2 = new Rng(8);
  const kernel = Float32Array.from({ length: 16 * 16 * 3 * 2 }, () => r2.uniform(-0.05, 0.05));
  const victimP = victimOf(ls, new Map([['head/kernel', kernel], ['head/bias', Float32Array.of(0.1, -0.2)]]), spec);
  afterAll(async () => (await victimP).close());
  const terms = [{ sign: Float32Array.of(-1, 1), offset: Float32Array.of(50, 50), weight: Float32Array.of(1, 0.5) }];

  test('its logits are those of the real preprocessing of the byte image', async () => {
    const v = await victimP, full = fullSizeVictim(v, W, H);
    const a = await full.logits(Float32Array.from(image.data, (b) => b / 255), 1);
    const b = await v.logits(modelPixels(image, spec), 1);
    expect(a[0]).toBeCloseTo(b[0]!, 4);
    expect(a[1]).toBeCloseTo(b[1]!, 4);
  });

  test('its gradient is the model gradient carried back through the geometry: ⟨∇, v⟩ equals a central difference along v', async () => {
    const full = fullSizeVictim(await victimP, W, H);
    const x = Float32Array.from(image.data, (b) => b / 255);
    const dir = Float32Array.from(x, () => r2.uniform(-1, 1));
    const g = await full.gradient(x, 1, terms);
    expect(g.grad.length).toBe(W * H * 3);
    const loss = async (t: number) => (await full.gradient(Float32Array.from(x, (v, j) => v + t * dir[j]!), 1, terms)).loss[0]!;
    const h = 1e-2;
    const numeric = ((await loss(h)) - (await loss(-h))) / (2 * h);
    const analytic = g.grad.reduce((acc, gj, j) => acc + gj * dir[j]!, 0);
    expect(Math.abs(numeric)).toBeGreaterThan(0.1);
    expect(Math.abs(analytic - numeric) / Math.abs(numeric)).toBeLessThan(1e-3);
  });
});
