/**
 * DeepDanbooru's `grad-cam` post-processing of an input gradient (reference/deepdanbooru.md §7.3):
 * clip to the 1st–99th percentile over all values, abs, divide by the maximum, then
 * `scipy.ndimage.median_filter(grads, 10)`, whose 10×10×10 window also spans the three channels.
 */

/** numpy's `quantile` (linear interpolation) of sorted values. */
function quantile(sorted: Float32Array, q: number): number {
  const at = q * (sorted.length - 1), lo = Math.floor(at), hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

/** scipy's `reflect` boundary (d c b a | a b c d | d c b a) for index i of an axis of n. */
function reflect(i: number, n: number): number {
  const j = ((i % (2 * n)) + 2 * n) % (2 * n);
  return j < n ? j : 2 * n - 1 - j;
}

const SIZE = 10;
// NOTE: scipy centres an even window at size // 2: offsets −5…+4, not −4…+5
const LOW = -Math.floor(SIZE / 2);

/** Clip, abs, /max: `norm_clip_grads`. */
export function normClip(grad: Float32Array): Float32Array {
  const sorted = grad.slice().sort();
  const lo = quantile(sorted, 0.01), hi = quantile(sorted, 0.99);
  const out = grad.map((v) => Math.abs(Math.min(Math.max(v, lo), hi)));
  let max = 0;
  for (const v of out) max = Math.max(max, v);
  if (max > 0) for (let i = 0; i < out.length; i++) out[i] = out[i]! / max;
  return out;
}

/**
 * `median_filter(x, 10)` on an H×W×3 array of non-negative values, mode `reflect`: each output is the element of
 * rank 500 (of 1000, scipy's `size // 2`) in its window. Over three channels the window's channel axis is a
 * reflected multiset, so each output channel takes a weighted median of the 10×10 window's 300 values.
 *
 * The window slides along each row as one sorted list: 30 values leave, 30 enter, one merge. Values are
 * sorted as keys `bits · 4 + channel`: the bits of a non-negative float32 order as the floats do.
 */
export function medianFilter3(x: Float32Array, width: number, height: number): Float32Array {
  const weights = [0, 1, 2].map((c) => {
    const w = [0, 0, 0];
    for (let o = 0; o < SIZE; o++) w[reflect(c + LOW + o, 3)]!++;
    return w;
  });
  const rank = (SIZE * SIZE * SIZE) >> 1;
  const bits = new Uint32Array(Float32Array.from(x).buffer);
  const col = (xx: number) => reflect(xx, width);
  const n = SIZE * SIZE * 3, m = SIZE * 3;
  let window = new Float64Array(n), next = new Float64Array(n);
  const leaving = new Float64Array(m), entering = new Float64Array(m);
  const rows = new Int32Array(SIZE);
  const column = (c: number, into: Float64Array, at: number) => {
    for (let r = 0; r < SIZE; r++) for (let ch = 0; ch < 3; ch++) into[at + r * 3 + ch] = bits[(rows[r]! * width + c) * 3 + ch]! * 4 + ch;
  };
  const scratch = new Uint32Array(1), value = new Float32Array(scratch.buffer);
  const out = new Float32Array(x.length);
  for (let y = 0; y < height; y++) {
    for (let r = 0; r < SIZE; r++) rows[r] = reflect(y + LOW + r, height);
    for (let o = 0; o < SIZE; o++) column(col(LOW + o), window, o * m);
    window.sort();
    for (let xx = 0; xx < width; xx++) {
      if (xx > 0) {
        column(col(xx - 1 + LOW), leaving, 0);
        column(col(xx + LOW + SIZE - 1), entering, 0);
        leaving.sort();
        entering.sort();
        let i = 0, j = 0, k = 0, q = 0;
        while (i < n || k < m) {
          if (i < n && j < m && window[i] === leaving[j]) {
            i++;
            j++;
            continue;
          }
          next[q++] = k < m && (i >= n || entering[k]! <= window[i]!) ? entering[k++]! : window[i++]!;
        }
        [window, next] = [next, window];
      }
      const seen = [0, 0, 0];
      let pending = 3;
      for (let i = 0; pending > 0; i++) {
        const key = window[i]!, ch = key % 4;
        for (let o = 0; o < 3; o++) {
          if (seen[o]! > rank) continue;
          seen[o]! += weights[o]![ch]!;
          if (seen[o]! > rank) {
            scratch[0] = (key - ch) / 4;
            out[(y * width + xx) * 3 + o] = value[0]!;
            pending--;
          }
        }
      }
    }
  }
  return out;
}

/** The DeepDanbooru-processed RGB map (H×W×3, 0–1) and its maximum over channels. */
export function saliencyMaps(grad: Float32Array, width: number, height: number): { rgb: Float32Array; map: Float32Array } {
  const rgb = medianFilter3(normClip(grad), width, height);
  const map = new Float32Array(width * height);
  for (let i = 0; i < map.length; i++) map[i] = Math.max(rgb[i * 3]!, rgb[i * 3 + 1]!, rgb[i * 3 + 2]!);
  return { rgb, map };
}
