/**
 * Projected gradient descent on the attack loss, per image of a batch: random start in the ε-ball, steps of
 * sign(g) (L∞) or g/‖g‖₂ (L2), and after each step the projection onto the ε-ball ∩ [0, 1]. The `apgd` schedule
 * is Croce & Hein's (ICML 2020): step 2ε, momentum 0.75, and at checkpoints the step halves (restarting from
 * the best point) when fewer than 75 % of the steps since the last checkpoint lowered the loss, or when the
 * best loss did not move and the step was not just halved.
 */
import { openLinfStepper, type Box, type LinfStepper } from './linf-step.ts';

export type Norm = 'linf' | 'l2';
export const NORMS: readonly Norm[] = ['linf', 'l2'];

export interface PgdOptions {
  readonly norm: Norm;
  readonly eps: number;
  readonly steps: number;
  /** Default: 2.5·ε/steps (pgd, Madry et al.), 2ε (apgd's first step). */
  readonly stepSize?: number;
  readonly schedule: 'pgd' | 'apgd';
  readonly randomStart: boolean;
  readonly rng: () => number;
  /** Sees every iterate after its projection (the tests' check that none leaves the feasible set). */
  readonly observe?: (x: Float32Array) => void;
  /**
   * The objective's loss and the L∞ step from x in one run, where the objective can (the attack graph with the
   * step in it; src/robust/victim.ts): taken for the `pgd` schedule, whose step needs nothing but the gradient.
   */
  readonly linfStep?: LinfStep;
}

export type Objective = (x: Float32Array) => Promise<{ loss: Float32Array; grad: Float32Array }>;
export type LinfStep = (x: Float32Array, box: Box, eta: ArrayLike<number>) => Promise<{ loss: Float32Array; next: Float32Array }>;

export interface PgdResult {
  /** The lowest-loss iterate of each image. */
  readonly x: Float32Array;
  readonly loss: Float32Array;
  /** Gradient evaluations made (the batch stops early once every loss is 0). */
  readonly steps: number;
}

const MOMENTUM = 0.75, RHO = 0.75;

/** Onto {x : ‖x − x0‖₂ ≤ ε} ∩ [0, 1]^d, in place for image i: scale into the ball, then clip to [0, 1] (which only shrinks δ). */
function l2Project(x: Float32Array, x0: Float32Array, i: number, size: number, eps: number): void {
  const from = i * size, to = from + size;
  let sq = 0;
  for (let j = from; j < to; j++) sq += (x[j]! - x0[j]!) ** 2;
  const scale = sq > eps * eps ? eps / Math.sqrt(sq) : 1;
  for (let j = from; j < to; j++) x[j] = Math.min(1, Math.max(0, x0[j]! + (x[j]! - x0[j]!) * scale));
}

/** The L∞ feasible set {x : ‖x − x0‖∞ ≤ ε} ∩ [0, 1]^d pixel by pixel. */
function linfBox(x0: Float32Array, eps: number): Box {
  const lo = new Float32Array(x0.length), hi = new Float32Array(x0.length);
  for (let j = 0; j < x0.length; j++) {
    lo[j] = Math.max(0, x0[j]! - eps);
    hi[j] = Math.min(1, x0[j]! + eps);
  }
  return { lo, hi };
}

/**
 * v clipped to [l, h] without a branch: a comparison as a number is a flag, where Math.min/max and the ternary
 * compile to jumps, and which side an iterate leaves its box on is a coin flip to the branch predictor. Exact in
 * float32: v + (l − v) is l to within a float64 rounding.
 */
const clip = (v: number, l: number, h: number) => v + (l - v) * +(v < l) + (h - v) * +(v > h);

function clampToBox(x: Float32Array, { lo, hi }: Box, from: number, to: number): void {
  for (let j = from; j < to; j++) x[j] = clip(x[j]!, lo[j]!, hi[j]!);
}

/** Gaussian by Box–Muller from a uniform rng. */
function gaussian(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

function randomStart(x0: Float32Array, n: number, size: number, o: PgdOptions, box: Box | null): Float32Array {
  const x = x0.slice();
  for (let i = 0; i < n; i++) {
    const from = i * size;
    if (box) {
      for (let j = from; j < from + size; j++) x[j]! += (2 * o.rng() - 1) * o.eps;
      clampToBox(x, box, from, from + size);
    } else {
      const d = Float64Array.from({ length: size }, () => gaussian(o.rng));
      const r = (o.eps * o.rng()) / Math.sqrt(d.reduce((a, v) => a + v * v, 0));
      for (let j = 0; j < size; j++) x[from + j]! += d[j]! * r;
      l2Project(x, x0, i, size, o.eps);
    }
  }
  return x;
}

/** x_i − η·g_i/‖g_i‖₂ into `out` (the L2 step; L∞'s is src/robust/linf-step.ts). */
function l2Descend(out: Float32Array, x: Float32Array, g: Float32Array, i: number, size: number, eta: number): void {
  const from = i * size;
  let sq = 0;
  for (let j = from; j < from + size; j++) sq += g[j]! ** 2;
  const scale = sq > 0 ? eta / Math.sqrt(sq) : 0;
  for (let j = from; j < from + size; j++) out[j] = x[j]! - scale * g[j]!;
}

/**
 * The step indices where apgd checks its progress, as the authors' code counts them: a first gap of ⌊0.22·steps⌋,
 * each next gap ⌊0.03·steps⌋ shorter but at least ⌊0.06·steps⌋ (p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)).
 */
export function apgdCheckpoints(steps: number): Set<number> {
  const out = new Set<number>();
  const least = Math.max(1, Math.floor(0.06 * steps)), shrink = Math.max(1, Math.floor(0.03 * steps));
  for (let gap = Math.max(1, Math.floor(0.22 * steps)), k = gap; k < steps; gap = Math.max(gap - shrink, least), k += gap) out.add(k);
  return out;
}

export async function pgd(objective: Objective, x0: Float32Array, n: number, o: PgdOptions): Promise<PgdResult> {
  const fused = o.norm === 'linf' && o.schedule === 'pgd' ? o.linfStep : undefined;
  // a session per attack: opening one costs about a millisecond, a step about 130
  const stepper = o.norm === 'linf' && o.steps > 0 && !fused ? await openLinfStepper() : null;
  try {
    return await descend(objective, x0, n, o, stepper, fused);
  } finally {
    await stepper?.close();
  }
}

async function descend(objective: Objective, x0: Float32Array, n: number, o: PgdOptions, stepper: LinfStepper | null, fused: LinfStep | undefined): Promise<PgdResult> {
  const size = x0.length / n;
  const apgd = o.schedule === 'apgd';
  const eta = new Float64Array(n).fill(o.stepSize ?? (apgd ? 2 * o.eps : (2.5 * o.eps) / o.steps));
  const box = o.norm === 'linf' ? linfBox(x0, o.eps) : null;
  let x: Float32Array = o.randomStart ? randomStart(x0, n, size, o, box) : x0.slice();
  let prev: Float32Array = x.slice();
  o.observe?.(x);
  const best = x.slice(), bestLoss = new Float64Array(n).fill(Infinity);
  const bestGrad = apgd ? new Float32Array(x.length) : null; // what apgd restarts from
  const lastLoss = new Float64Array(n).fill(Infinity), improved = new Int32Array(n);
  const bestAtCheck = new Float64Array(n).fill(Infinity), halvedAtCheck = new Uint8Array(n);
  const checkpoints = apgd ? apgdCheckpoints(o.steps) : new Set<number>();
  let lastCheck = 0, k = 0;
  for (;; k++) {
    // with `fused` the next iterate comes with the loss (unused after the last step), and no gradient
    const r: { loss: Float32Array; grad?: Float32Array; next?: Float32Array } = fused ? await fused(x, box!, eta) : await objective(x);
    const g = r.grad;
    for (let i = 0; i < n; i++) {
      const l = r.loss[i]!;
      if (l < lastLoss[i]!) improved[i]!++;
      lastLoss[i] = l;
      if (l < bestLoss[i]!) {
        bestLoss[i] = l;
        best.set(x.subarray(i * size, (i + 1) * size), i * size);
        bestGrad?.set(g!.subarray(i * size, (i + 1) * size), i * size);
      }
    }
    if (k === o.steps || bestLoss.every((l) => l === 0)) break;
    if (checkpoints.has(k)) {
      for (let i = 0; i < n; i++) {
        const slow = improved[i]! < RHO * (k - lastCheck);
        const stuck = !halvedAtCheck[i] && bestAtCheck[i] === bestLoss[i];
        halvedAtCheck[i] = slow || stuck ? 1 : 0;
        if (halvedAtCheck[i]) {
          eta[i]! /= 2;
          for (const a of [x, prev]) a.set(best.subarray(i * size, (i + 1) * size), i * size);
          g!.set(bestGrad!.subarray(i * size, (i + 1) * size), i * size);
        }
        improved[i] = 0;
        bestAtCheck[i] = bestLoss[i]!;
      }
      lastCheck = k;
    }
    const next = r.next ?? (box ? await stepper!.step(x, g!, box, eta) : new Float32Array(x.length));
    for (let i = 0; i < n; i++) {
      const [from, to] = [i * size, (i + 1) * size];
      if (!box) {
        l2Descend(next, x, g!, i, size, eta[i]!);
        l2Project(next, x0, i, size, o.eps);
      }
      if (apgd && k > 0) {
        for (let j = from; j < to; j++) next[j] = x[j]! + MOMENTUM * (next[j]! - x[j]!) + (1 - MOMENTUM) * (x[j]! - prev[j]!);
        if (box) clampToBox(next, box, from, to);
        else l2Project(next, x0, i, size, o.eps);
      }
    }
    prev = x;
    x = next;
    o.observe?.(x);
  }
  return { x: best, loss: Float32Array.from(bestLoss), steps: k + 1 };
}
