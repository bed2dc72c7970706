/**
 * The model seen from the uploaded image: a Victim whose pixels are those of a W × H original, mapped to the model's
 * input by the bundle's geometry as measured linear maps (resize-operator.ts) plus the constant a colour pad adds.
 * Attacking it puts the ε-ball around the file a user uploads, so what succeeds here succeeds after upload (up to
 * rounding to bytes); the attack at model resolution is only an upper bound on that.
 */
import type { PreprocessSpec } from '../image/spec.ts';
import { modelPixels } from './pixel-space.ts';
import { apply, applyT, geometryOperators } from './resize-operator.ts';
import type { Victim } from './victim.ts';

export function fullSizeVictim(victim: Victim, width: number, height: number): Victim {
  const spec = victim.preprocess;
  const { x: ax, y: ay } = geometryOperators(width, height, spec);
  const base = modelPixels({ data: new Uint8Array(width * height * 3), width, height, channels: 3 }, spec);
  const [full, small] = [width * height, spec.width * spec.height];
  /** n full-size images (HWC) → their model inputs (HWC). */
  const down = (x: Float32Array, n: number) => {
    const out = new Float32Array(n * small * 3);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) {
        const plane = apply(ay, ax, Float64Array.from({ length: full }, (_, p) => x[(i * full + p) * 3 + c]!));
        for (let p = 0; p < small; p++) out[(i * small + p) * 3 + c] = plane[p]! + base[p * 3 + c]!;
      }
    }
    return out;
  };
  const up = (g: Float32Array, n: number) => {
    const out = new Float32Array(n * full * 3);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) {
        const plane = applyT(ay, ax, Float64Array.from({ length: small }, (_, p) => g[(i * small + p) * 3 + c]!));
        for (let p = 0; p < full; p++) out[(i * full + p) * 3 + c] = plane[p]!;
      }
    }
    return out;
  };
  const preprocess: PreprocessSpec = { ...spec, width, height };
  return {
    preprocess, tagCount: victim.tagCount, differentiable: victim.differentiable,
    logits: (x, n) => victim.logits(down(x, n), n),
    async gradient(x, n, terms) {
      const r = await victim.gradient(down(x, n), n, terms);
      return { ...r, grad: up(r.grad, n) };
    },
    close: () => victim.close(),
  };
}
