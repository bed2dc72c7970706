/**
 * The Square attack (Andriushchenko, Croce, Flammarion & Hein, ECCV 2020), L∞: score-based and gradient-free,
 * so it is the check on gradient masking (a defence that holds against PGD but not against this one hides its
 * gradients). Start from vertical stripes of ±ε; each iteration redraws one random square window to ±ε per
 * channel and keeps the change only when the loss drops; the window's area p·H·W shrinks on a fixed schedule.
 */
export interface SquareOptions {
  readonly eps: number;
  /** Queries per image at most (the initial stripes count as one). */
  readonly queries: number;
  readonly width: number;
  readonly height: number;
  readonly rng: () => number;
  /** The starting fraction of the image a window covers (the paper's p_init; 0.05 for L∞). */
  readonly pInit?: number;
}

/** For the `m` candidate images given: their losses, and whether each has reached its goal (it then stops). */
export type ScoreFn = (x: Float32Array, images: readonly number[]) => Promise<{ loss: Float32Array; done: boolean[] }>;

export interface SquareResult {
  readonly x: Float32Array;
  readonly loss: Float32Array;
  readonly queries: Int32Array;
  readonly done: boolean[];
}

/** The paper's schedule: p halves at 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of 10,000 iterations, rescaled to `total`. */
export function squareFraction(pInit: number, it: number, total: number): number {
  const at = Math.floor((it / total) * 10000);
  const marks = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  return pInit / 2 ** marks.filter((m) => at > m).length;
}

export async function squareAttack(score: ScoreFn, x0: Float32Array, n: number, o: SquareOptions): Promise<SquareResult> {
  const { width: W, height: H, eps } = o;
  const size = W * H * 3, pInit = o.pInit ?? 0.05;
  const sign = () => (o.rng() < 0.5 ? -eps : eps);
  const clip = (v: number) => Math.min(1, Math.max(0, v));
  const x = new Float32Array(x0.length);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      for (let col = 0; col < W; col++) {
        const s = sign();
        for (let row = 0; row < H; row++) {
          const j = i * size + (row * W + col) * 3 + c;
          x[j] = clip(x0[j]! + s);
        }
      }
    }
  }
  const all = Array.from({ length: n }, (_, i) => i);
  const first = await score(x, all);
  const loss = Float32Array.from(first.loss), done = [...first.done];
  const queries = new Int32Array(n).fill(1);
  for (let it = 1; it < o.queries; it++) {
    const active = all.filter((i) => !done[i]);
    if (active.length === 0) break;
    const side = Math.max(1, Math.min(Math.round(Math.sqrt(squareFraction(pInit, it, o.queries) * W * H)), Math.min(W, H) - 1));
    const candidate = new Float32Array(active.length * size);
    active.forEach((i, a) => {
      candidate.set(x.subarray(i * size, (i + 1) * size), a * size);
      const top = Math.floor(o.rng() * (H - side + 1)), left = Math.floor(o.rng() * (W - side + 1));
      for (let c = 0; c < 3; c++) {
        const s = sign();
        for (let row = top; row < top + side; row++) {
          for (let col = left; col < left + side; col++) {
            const p = (row * W + col) * 3 + c;
            candidate[a * size + p] = clip(x0[i * size + p]! + s);
          }
        }
      }
    });
    const r = await score(candidate, active);
    active.forEach((i, a) => {
      queries[i]!++;
      if (r.loss[a]! < loss[i]! || r.done[a]) {
        loss[i] = r.loss[a]!;
        x.set(candidate.subarray(a * size, (a + 1) * size), i * size);
        done[i] = r.done[a]!;
      }
    });
  }
  return { x, loss, queries, done };
}
