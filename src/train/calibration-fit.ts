/**
 * Fitting the calibrations of src/infer/calibration.ts to one tag's validation logits z and labels y (with
 * optional weights: 0 drops an unknown label). Temperature and Platt minimise the cross-entropy against Platt's
 * (1999) smoothed targets by Newton's method (both losses are convex in their parameters); isotonic is
 * pool-adjacent-violators.
 */
import type { IsotonicParameters, PlattParameters, TemperatureParameters } from '../infer/calibration.ts';
import { sigmoid } from '../infer/calibration.ts';

/** The temperatures a fit may return: beyond them the tag's scores carry no usable ranking or are separable. */
export const TEMPERATURE_RANGE = [0.05, 100] as const;
const ITERATIONS = 100;

const weightOf = (w: ArrayLike<number> | undefined, i: number) => (w ? w[i]! : 1);

/** log(1 + e^u), stable for large |u|. */
const softplus = (u: number) => (u > 0 ? u + Math.log1p(Math.exp(-u)) : Math.log1p(Math.exp(u)));

/** Σ w·(log(1 + e^u) − t·u) with u = a·z + b: the cross-entropy of sigmoid(a·z + b) against targets t. */
function nll(z: ArrayLike<number>, y: ArrayLike<number>, w: ArrayLike<number> | undefined, a: number, b: number): number {
  let s = 0;
  for (let i = 0; i < z.length; i++) {
    const u = a * z[i]! + b;
    s += weightOf(w, i) * (softplus(u) - y[i]! * u);
  }
  return s;
}

/**
 * Newton on (a, b) with backtracking; `fixB` keeps b = 0 (temperature: a = 1/T). Stops when a step no longer
 * lowers the loss measurably. A tiny ridge keeps the Hessian invertible when a tag's logits are all equal.
 */
function newton(z: ArrayLike<number>, y: ArrayLike<number>, w: ArrayLike<number> | undefined, fixB: boolean, aRange: readonly [number, number]): { a: number; b: number } {
  let a = 1, b = 0;
  let loss = nll(z, y, w, a, b);
  for (let it = 0; it < ITERATIONS; it++) {
    let ga = 0, gb = 0, haa = 1e-9, hab = 0, hbb = 1e-9;
    for (let i = 0; i < z.length; i++) {
      const wi = weightOf(w, i);
      if (wi === 0) continue;
      const zi = z[i]!, p = sigmoid(a * zi + b), r = wi * (p - y[i]!), q = wi * p * (1 - p);
      ga += r * zi;
      gb += r;
      haa += q * zi * zi;
      hab += q * zi;
      hbb += q;
    }
    let da: number, db: number;
    if (fixB) [da, db] = [-ga / haa, 0];
    else {
      const det = haa * hbb - hab * hab;
      [da, db] = [-(hbb * ga - hab * gb) / det, -(haa * gb - hab * ga) / det];
    }
    let step = 1, next = loss, na = a, nb = b;
    for (let k = 0; k < 30; k++, step /= 2) {
      na = Math.min(aRange[1], Math.max(aRange[0], a + step * da));
      nb = b + step * db;
      next = nll(z, y, w, na, nb);
      if (next <= loss) break;
    }
    if (!(next <= loss)) break;
    const done = loss - next <= 1e-12 * Math.max(1, loss);
    [a, b, loss] = [na, nb, next];
    if (done) break;
  }
  return { a, b };
}

/**
 * Platt's targets: (N₊ + 1) / (N₊ + 2) for a positive and 1 / (N₋ + 2) for a negative instead of 1 and 0. A tag
 * the model separates perfectly on the split (common: a few hundred images of an easy tag) would otherwise
 * drive the fit to a step, sigmoid(∞·(z − c)), certain of every score on images it has not seen.
 */
export function smoothedTargets(y: ArrayLike<number>, w?: ArrayLike<number>): Float64Array {
  let positives = 0, negatives = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i]! > 0.5) positives += weightOf(w, i);
    else negatives += weightOf(w, i);
  }
  const [high, low] = [(positives + 1) / (positives + 2), 1 / (negatives + 2)];
  return Float64Array.from(y, (v) => (v > 0.5 ? high : low));
}

/** The temperature T minimising the cross-entropy of sigmoid(z / T) against the smoothed targets, within TEMPERATURE_RANGE. */
export function fitTemperature(z: ArrayLike<number>, y: ArrayLike<number>, w?: ArrayLike<number>): TemperatureParameters {
  const [low, high] = TEMPERATURE_RANGE;
  return { temperature: 1 / newton(z, smoothedTargets(y, w), w, true, [1 / high, 1 / low]).a };
}

/** Platt scaling: the a, b minimising the cross-entropy of sigmoid(a·z + b) against the smoothed targets. */
export function fitPlatt(z: ArrayLike<number>, y: ArrayLike<number>, w?: ArrayLike<number>): PlattParameters {
  return newton(z, smoothedTargets(y, w), w, false, [-1e3, 1e3]);
}

/**
 * Weighted pool-adjacent-violators: the non-decreasing sequence closest to `y` in weighted least squares, `y`
 * already in order of its score. Returns one value per input.
 */
export function poolAdjacentViolators(y: ArrayLike<number>, w?: ArrayLike<number>): Float64Array {
  const n = y.length;
  const value = new Float64Array(n), weight = new Float64Array(n), size = new Int32Array(n);
  let blocks = 0;
  for (let i = 0; i < n; i++) {
    value[blocks] = y[i]!;
    weight[blocks] = weightOf(w, i);
    size[blocks] = 1;
    blocks++;
    // merge while the newest block breaks the order
    while (blocks > 1 && value[blocks - 2]! > value[blocks - 1]!) {
      const wa = weight[blocks - 2]!, wb = weight[blocks - 1]!, total = wa + wb;
      value[blocks - 2] = total > 0 ? (wa * value[blocks - 2]! + wb * value[blocks - 1]!) / total : Math.max(value[blocks - 2]!, value[blocks - 1]!);
      weight[blocks - 2] = total;
      size[blocks - 2] = size[blocks - 2]! + size[blocks - 1]!;
      blocks--;
    }
  }
  const out = new Float64Array(n);
  for (let b = 0, i = 0; b < blocks; b++) for (let k = 0; k < size[b]!; k++) out[i++] = value[b]!;
  return out;
}

/**
 * Isotonic regression of y on z: equal logits are pooled first (they must map to one value), then PAV; each
 * block becomes its first and last logit at its value, so interpolation is flat inside a block and linear between.
 */
export function fitIsotonic(z: ArrayLike<number>, y: ArrayLike<number>, w?: ArrayLike<number>): IsotonicParameters {
  const order = Array.from({ length: z.length }, (_, i) => i).filter((i) => weightOf(w, i) > 0).sort((i, j) => z[i]! - z[j]!);
  const xs: number[] = [], ys: number[] = [], ws: number[] = [];
  for (const i of order) {
    const wi = weightOf(w, i), last = xs.length - 1;
    if (last >= 0 && xs[last] === z[i]) {
      ys[last] = (ys[last]! * ws[last]! + y[i]! * wi) / (ws[last]! + wi);
      ws[last] = ws[last]! + wi;
    } else {
      xs.push(z[i]!);
      ys.push(y[i]!);
      ws.push(wi);
    }
  }
  const fitted = poolAdjacentViolators(ys, ws);
  const x: number[] = [], out: number[] = [];
  for (let i = 0; i < xs.length; i++) {
    const first = i === 0 || fitted[i] !== fitted[i - 1], lastOfBlock = i === xs.length - 1 || fitted[i] !== fitted[i + 1];
    if (first || lastOfBlock) {
      x.push(xs[i]!);
      out.push(fitted[i]!);
    }
  }
  return { x, y: out };
}

/** How strongly a tile fit is pulled towards the whole image's own score (whole 1, tile 0): a unit Gaussian prior. */
const TILE_PRIOR = 1;

/**
 * Tiled test-time augmentation (src/compose/tta.ts): the weights of sigmoid(whole·z_w + tile·z_t + bias), z_w the
 * whole image's logit and z_t the highest tile's, minimising the cross-entropy against Platt's smoothed targets
 * plus TILE_PRIOR/2 · ((whole − 1)² + tile²), by Newton's method with backtracking (the loss is convex). The
 * prior keeps a tag whose split says little near the score it had without tiles.
 */
export function fitTileWeights(zWhole: ArrayLike<number>, zTile: ArrayLike<number>, y: ArrayLike<number>, w?: ArrayLike<number>): [whole: number, tile: number, bias: number] {
  const t = smoothedTargets(y, w);
  const x = (i: number) => [zWhole[i]!, zTile[i]!, 1] as const;
  const loss = (p: readonly number[]) => {
    let s = (TILE_PRIOR / 2) * ((p[0]! - 1) ** 2 + p[1]! ** 2);
    for (let i = 0; i < t.length; i++) {
      const u = p[0]! * zWhole[i]! + p[1]! * zTile[i]! + p[2]!;
      s += weightOf(w, i) * (softplus(u) - t[i]! * u);
    }
    return s;
  };
  let p = [1, 0, 0], current = loss(p);
  for (let it = 0; it < ITERATIONS; it++) {
    const g = [TILE_PRIOR * (p[0]! - 1), TILE_PRIOR * p[1]!, 0];
    const h = [[TILE_PRIOR, 0, 0], [0, TILE_PRIOR, 0], [0, 0, 1e-9]];
    for (let i = 0; i < t.length; i++) {
      const wi = weightOf(w, i);
      if (wi === 0) continue;
      const xi = x(i), q = sigmoid(p[0]! * xi[0] + p[1]! * xi[1] + p[2]!);
      for (let a = 0; a < 3; a++) {
        g[a]! += wi * (q - t[i]!) * xi[a]!;
        for (let b = 0; b < 3; b++) h[a]![b]! += wi * q * (1 - q) * xi[a]! * xi[b]!;
      }
    }
    const d = solve3(h, g);
    let step = 1, next = current, candidate = p;
    for (let k = 0; k < 30; k++, step /= 2) {
      candidate = p.map((v, j) => v - step * d[j]!);
      next = loss(candidate);
      if (next <= current) break;
    }
    if (!(next <= current)) break;
    const done = current - next <= 1e-12 * Math.max(1, current);
    [p, current] = [candidate, next];
    if (done) break;
  }
  return [p[0]!, p[1]!, p[2]!];
}

/** The solution of the 3 × 3 system h·d = g (Cramer's rule: h is symmetric positive definite here). */
function solve3(h: readonly (readonly number[])[], g: readonly number[]): number[] {
  const det = (m: readonly (readonly number[])[]) =>
    m[0]![0]! * (m[1]![1]! * m[2]![2]! - m[1]![2]! * m[2]![1]!) - m[0]![1]! * (m[1]![0]! * m[2]![2]! - m[1]![2]! * m[2]![0]!) + m[0]![2]! * (m[1]![0]! * m[2]![1]! - m[1]![1]! * m[2]![0]!);
  const d = det(h);
  return [0, 1, 2].map((c) => det(h.map((row, r) => row.map((v, k) => (k === c ? g[r]! : v)))) / d);
}
