/**
 * Convolution gradients in standard ONNX ops, with the formulations measured fastest (reference/
 * onnx-training.md §3, README.md, Benchmarks: training): flipped-kernel Conv (stride 1; on ORT's blocked
 * kernels where the channels allow, src/graph/nchwc.ts) or ConvTranspose (stride > 1) for the input; for the
 * weights a one-hot grouped Conv (im2col) + MatMul, per sample or as one GEMM over channel-major copies
 * depending on the map size, or a swapped-axes Conv for large kernels; every unfolded buffer is split over
 * the batch to stay under a budget.
 */
import { NCHWC_DOMAIN, blockedConv2d, blockedFlippedKernel, blockedKernel, blockedPays, conv2d, dim, matmul, reshape, takesBlocked, transpose, type Graph, type Value } from '../graph/index.ts';
import type { BlockedLayout } from './blocked-layout.ts';
import { add } from '../graph/ops.ts';
import { concat, slice, sumLeading } from '../graph/math.ts';

export type Pads = readonly [top: number, left: number, bottom: number, right: number];

/**
 * dL/dx of y = conv(x, w) with the given strides and explicit pads. With a `layout` (baked w), gy may be
 * blocked, and so may the result.
 */
export function convInputGrad(g: Graph, xShape: readonly (number | string)[], w: Value, blockedGy: Value, strides: readonly [number, number], pads: Pads, nchwcBlock = 0, layout: BlockedLayout | null = null): Value {
  const [, , h, wd] = xShape as [unknown, unknown, number, number];
  const [co, ci, kh, kw] = [dim(w.shape, 0), dim(w.shape, 1), dim(w.shape, 2), dim(w.shape, 3)];
  const [ho, wo] = [dim(blockedGy.shape, 2), dim(blockedGy.shape, 3)];
  const [t, l, b, r] = pads;
  const stride1 = strides[0] === 1 && strides[1] === 1 && t < kh && b < kh && l < kw && r < kw;
  if (stride1 && layout && takesBlocked(co, ci, 1, layout.block)) {
    const padding = [kh - 1 - t, kw - 1 - l, kh - 1 - b, kw - 1 - r] as const;
    return layout.conv(layout.blocked(blockedGy), blockedFlippedKernel(g, w, layout.block), null, { padding });
  }
  const gy = layout?.nchw(blockedGy) ?? blockedGy;
  if (stride1) {
    const padding = [kh - 1 - t, kw - 1 - l, kh - 1 - b, kw - 1 - r] as const;
    if (blockedPays([kh, kw], co, ci, nchwcBlock)) return blockedConv2d(g, gy, blockedFlippedKernel(g, w, nchwcBlock), null, { padding }, nchwcBlock);
    // NOTE: correlate with the kernel rotated by 180° and transposed in/out; the pads mirror the forward's
    const swapped = transpose(g, w, [1, 0, 2, 3]);
    const flipped = kh === 1 && kw === 1 ? swapped : slice(g, swapped, [-1, -1], [-(kh + 1), -(kw + 1)], [2, 3], [-1, -1]);
    // NOTE: a (zero) bias lets ORT fuse the fan-in Add that usually follows into this Conv (FusedConv's sum input)
    const bias = g.constant(new Array<number>(ci).fill(0), [ci]);
    return conv2d(g, gy, flipped, bias, { padding });
  }
  const phased = layout ? phaseInputGrad(g, [h, wd], w, blockedGy, strides, pads, layout) : null;
  if (phased) return phased;
  const outPad = [h - ((ho - 1) * strides[0] + kh - t - b), wd - ((wo - 1) * strides[1] + kw - l - r)];
  const shape = [gy.shape[0]!, ci, h, wd];
  return g.op('ConvTranspose', [gy, w], { kernel_shape: [kh, kw], strides: [...strides], pads: [...pads], output_padding: outPad }, shape);
}

/** Along one axis, the input positions m·s + p of phase p: the kernel taps k0 + s·j (j < taps) that reach them, and the pads of their correlation with gy. */
interface AxisPhase {
  readonly k0: number;
  readonly taps: number;
  readonly before: number;
  readonly after: number;
}

/**
 * The phases of one axis of an input of `size` under a stride-s window of `k` taps with `pad` before, gy `out`
 * long; null unless each phase is size/s long and pads no negative amount. A phase no tap reaches is null, which
 * only the last ones may be (they become zero padding).
 */
function axisPhases(size: number, k: number, s: number, pad: number, out: number): (AxisPhase | null)[] | null {
  if (size % s !== 0) return null;
  const m = size / s, phases: (AxisPhase | null)[] = [];
  for (let p = 0; p < s; p++) {
    const k0 = (p + pad) % s, taps = k0 < k ? Math.ceil((k - k0) / s) : 0;
    if (taps === 0) {
      phases.push(null);
      continue;
    }
    // dx[m·s + p] = Σ_j gy[m + d − j]·w[k0 + s·j]: a correlation with the taps reversed, gy padded by taps − 1 − d
    const d = (p + pad - k0) / s, before = taps - 1 - d, after = m + taps - 1 - before - out;
    if (before < 0 || after < 0 || phases.some((q) => q === null)) return null;
    phases.push({ k0, taps, before, after });
  }
  return phases;
}

/**
 * dL/dx of a strided conv as one stride-1 conv per phase of the input (rows ≡ p, columns ≡ q mod s) on the kernel
 * taps that reach it, interleaved: ORT's ConvTranspose scatters its columns back (col2im) one element at a time,
 * while phase convs run on the blocked kernels at the forward's cost. Null when the geometry does not split
 * evenly (see axisPhases) or the channels fit no blocks.
 */
function phaseInputGrad(g: Graph, [h, wd]: readonly [number, number], w: Value, gy: Value, strides: readonly [number, number], [t, l]: Pads, layout: BlockedLayout): Value | null {
  const [co, ci, kh, kw] = [dim(w.shape, 0), dim(w.shape, 1), dim(w.shape, 2), dim(w.shape, 3)];
  const [ho, wo] = [dim(gy.shape, 2), dim(gy.shape, 3)];
  const [rows, cols] = [axisPhases(h, kh, strides[0], t, ho), axisPhases(wd, kw, strides[1], l, wo)];
  if (!rows || !cols) return null;
  const swapped = transpose(g, w, [1, 0, 2, 3]);
  // the taps k0 + s·j of a phase, reversed: from the last down to k0
  const end = (k0: number, k: number) => (k0 > 0 ? k0 - 1 : -(k + 1));
  const taps = (p: AxisPhase, q: AxisPhase) => slice(g, swapped, [p.k0 + strides[0] * (p.taps - 1), q.k0 + strides[1] * (q.taps - 1)], [end(p.k0, kh), end(q.k0, kw)], [2, 3], [-strides[0], -strides[1]]);
  if (!takesBlocked(co, ci, 1, layout.block)) return stackedPhases(g, gy, rows, cols, taps, ci, [h, wd], strides, layout);
  const [mh, mw, n, block] = [h / strides[0], wd / strides[1], gy.shape[0]!, layout.block];
  // a blocked phase [N, C, mh, mw] is [N, C/B, mh, mw, B] in memory: seen as [N, C/B, mh, 1, mw, 1, B], the
  // interleaved map is the phases concatenated on the 1s, and the phases no tap reaches are zero padding after them
  const view = [0, ci / block, mh, 1, mw, 1, block];
  const [rs, cs] = [rows.filter((p) => p !== null), cols.filter((q) => q !== null)];
  const join = (parts: Value[], axis: number) => (parts.length > 1 ? concat(g, parts, axis) : parts[0]!);
  const joined = join(rs.map((p) => join(cs.map((q) => {
    const phase = layout.conv(layout.blocked(gy), blockedKernel(g, taps(p, q), block), null, { padding: [p.before, q.before, p.after, q.after] });
    return reshape(g, phase, view, [n, ...view.slice(1)]);
  }), 5)), 3);
  const pads = new Array<number>(2 * view.length).fill(0);
  [pads[view.length + 3], pads[view.length + 5]] = [strides[0] - rs.length, strides[1] - cs.length];
  const full = [n, ci / block, mh, strides[0], mw, strides[1], block];
  const interleaved = pads.some((v) => v > 0) ? g.op('Pad', [joined, g.ints(pads)], {}, full) : joined;
  return layout.mark(reshape(g, interleaved, [0, ci, h, wd], [n, ci, h, wd]));
}

/**
 * The phases as the output channels of one blocked conv, for a dx narrower than a block (the stem's 3
 * channels): the kernel computes whole blocks of outputs and reads its input once for several, so s²·C outputs
 * cost little more than one phase alone would. Each row phase fills one block with its column phases' C
 * channels side by side (null when they do not fit one), and each phase's taps sit in a shared window at the
 * offset that aligns its pads. The result comes out NHWC (what the input layer's gradient is), its NCHW twin
 * built only if something reads it.
 */
function stackedPhases(g: Graph, gy: Value, rows: readonly (AxisPhase | null)[], cols: readonly (AxisPhase | null)[], taps: (p: AxisPhase, q: AxisPhase) => Value, ci: number, [h, wd]: readonly [number, number], strides: readonly [number, number], layout: BlockedLayout): Value | null {
  if (rows.includes(null) || cols.includes(null)) return null;
  const [rs, cs] = [rows as AxisPhase[], cols as AxisPhase[]];
  const [sh, sw] = strides, [mh, mw, n, co] = [h / sh, wd / sw, gy.shape[0]!, dim(gy.shape, 1)], block = layout.block;
  // one block of outputs per row phase, its column phases side by side (see the interleave below)
  if (sw * ci > block || !takesBlocked(co, sh * block, 1, block)) return null;
  // out = before + gy + after − size + 1 phase positions
  const window = (ps: AxisPhase[], out: number, gyLength: number) => {
    const before = Math.max(...ps.map((p) => p.before));
    const size = Math.max(...ps.map((p) => before - p.before + p.taps));
    return { before, size, after: out - 1 - gyLength - before + size };
  };
  const [wr, wc] = [window(rs, mh, dim(gy.shape, 2)), window(cs, mw, dim(gy.shape, 3))];
  if (wr.after < 0 || wc.after < 0) return null;
  const kernels = rs.flatMap((p) => cs.map((q) => {
    const [top, left] = [wr.before - p.before, wc.before - q.before];
    const pads = [0, 0, top, left, 0, 0, wr.size - top - p.taps, wc.size - left - q.taps];
    return g.op('Pad', [taps(p, q), g.ints(pads)], {}, [ci, co, wr.size, wc.size]);
  }));
  // each row phase's kernels, zero outputs up to a whole block
  const stack = concat(g, rs.map((_, i) => {
    const phase = concat(g, kernels.slice(i * sw, (i + 1) * sw), 0);
    return g.op('Pad', [phase, g.ints([0, 0, 0, 0, block - sw * ci, 0, 0, 0])], {}, [block, co, wr.size, wc.size]);
  }), 0);
  const blocked = layout.conv(layout.blocked(gy), blockedKernel(g, stack, block), null, { padding: [wr.before, wc.before, wr.after, wc.after] });
  // [N, p, mh, mw, B] → [N, mh, p, mw, B]: runs of mw·B floats move (ORT moves runs of (q, c) floats 2.5× slower
  // than this and the reorder below together). That is one block of the map [N, B, h, mw], whose NHWC reorder keeps
  // the (q, c) channels of each column: [N, h, mw, (q, c)] = [N, h, wd, C]
  const rowsJoined = transpose(g, reshape(g, blocked, [0, sh, mh, mw, block], [n, sh, mh, mw, block]), [0, 2, 1, 3, 4]);
  const nhwc = g.opIn(NCHWC_DOMAIN, 'ReorderOutput', [reshape(g, rowsJoined, [0, block, h, mw], [n, block, h, mw])], { channels: sw * ci, channels_last: 1 }, [n, h, mw, sw * ci]);
  const dx = reshape(g, nhwc, [0, h, wd, ci], [n, h, wd, ci]);
  return layout.withNhwc(transpose(g, dx, [0, 3, 1, 2]), dx);
}

function oneHotKernel(g: Graph, channels: number, kh: number, kw: number): Value {
  const k = kh * kw;
  const data = new Float32Array(channels * k * k);
  for (let c = 0; c < channels; c++) for (let j = 0; j < k; j++) data[(c * k + j) * k + j] = 1;
  return g.initializer(g.fresh(`onehot_${channels}x${kh}x${kw}`), data, [channels * k, 1, kh, kw]);
}

/** dL/dw of y = conv(x, w): Σ_n gy_n · unfold(x_n)ᵀ. */
export function convWeightGrad(g: Graph, x: Value, gy: Value, kernel: readonly [number, number], strides: readonly [number, number], pads: Pads, budget: number): Value {
  const [n, ci] = [dim(x.shape, 0), dim(x.shape, 1)];
  const [co, ho, wo] = [dim(gy.shape, 1), dim(gy.shape, 2), dim(gy.shape, 3)];
  const [kh, kw] = kernel;
  const k = kh * kw, p = ho * wo;
  const pointwise = k === 1 && pads.every((v) => v === 0);
  const unfold = (xs: Value, rows: number) => {
    if (pointwise && strides[0] === 1 && strides[1] === 1) return reshape(g, xs, [rows, ci, p], [rows, ci, p]);
    // a one-hot depthwise conv lays every kernel tap out as a channel (stride-only for 1×1)
    const weights = pointwise ? g.initializer(g.fresh('ones'), new Float32Array(ci).fill(1), [ci, 1, 1, 1]) : oneHotKernel(g, ci, kh, kw);
    const cols = conv2d(g, xs, weights, null, { strides, padding: pads, group: ci });
    return reshape(g, cols, [rows, ci * k, p], [rows, ci * k, p]);
  };
  // 5×5 and up (the 7×7 stem): one-hot unfolding would multiply by k² zeros per output
  if (k >= 25) return swappedWeightGrad(g, x, gy, kernel, strides, pads, budget);
  // small maps: N GEMMs with K = H·W are inefficient, and when their [N,Co,Ci·k²] partials outweigh the
  // operands, one GEMM with K = N·H·W over channel-major copies of both is cheaper
  if (p <= 64 || co * ci * k > p * (co + ci * k)) {
    const bytes = n * ci * k * p * 4;
    if (bytes <= budget) {
      const cols = unfold(x, n);
      const a = reshape(g, transpose(g, reshape(g, gy, [n, co, p], [n, co, p]), [1, 0, 2]), [co, n * p], [co, n * p]);
      const b = reshape(g, transpose(g, cols, [1, 0, 2]), [ci * k, n * p], [ci * k, n * p]);
      return reshape(g, g.op('Gemm', [a, b], { transB: 1 }, [co, ci * k]), [co, ci, kh, kw], [co, ci, kh, kw]);
    }
  }
  const bytesPerSample = ci * k * p * 4;
  const chunk = Math.max(1, Math.min(n, Math.floor(budget / bytesPerSample)));
  let acc: Value | null = null;
  for (let start = 0; start < n; start += chunk) {
    const rows = Math.min(chunk, n - start);
    const xs = rows === n ? x : slice(g, x, [start], [start + rows], [0]);
    const gs = rows === n ? gy : slice(g, gy, [start], [start + rows], [0]);
    const cols = unfold(xs, rows);
    const prod = matmul(g, reshape(g, gs, [rows, co, p], [rows, co, p]), transpose(g, cols, [0, 2, 1]));
    const part = sumLeading(g, prod);
    acc = acc ? add(g, acc, part) : part; // accumulate at once, so one chunk's buffer is alive at a time
  }
  return reshape(g, acc!, [co, ci, kh, kw], [co, ci, kh, kw]);
}

/**
 * dL/dw as a correlation of x with gy: the batch becomes the channel axis (x → [Ci,N,H,W], gy → [Co,N,Ho,Wo])
 * and gy the kernel, dilated by the stride. ORT's im2col then copies N·Ho·Wo·k² floats per input channel
 * and runs Ci GEMMs with K = N·Ho·Wo, instead of a one-hot conv that multiplies by k² zeros per tap.
 */
function swappedWeightGrad(g: Graph, x: Value, gy: Value, kernel: readonly [number, number], strides: readonly [number, number], pads: Pads, budget: number): Value {
  const [n, ci, h, w] = [dim(x.shape, 0), dim(x.shape, 1), dim(x.shape, 2), dim(x.shape, 3)];
  const [co, ho, wo] = [dim(gy.shape, 1), dim(gy.shape, 2), dim(gy.shape, 3)];
  const [kh, kw] = kernel, [t, l, b, r] = pads;
  // rows or columns the forward's windows never reached make the result larger than the kernel: crop
  const [oh, ow] = [h + t + b - (ho - 1) * strides[0], w + l + r - (wo - 1) * strides[1]];
  const chunk = Math.max(1, Math.min(n, Math.floor(budget / (ho * wo * kh * kw * 4))));
  let acc: Value | null = null;
  for (let start = 0; start < n; start += chunk) {
    const rows = Math.min(chunk, n - start);
    const xs = rows === n ? x : slice(g, x, [start], [start + rows], [0]);
    const gs = rows === n ? gy : slice(g, gy, [start], [start + rows], [0]);
    let part = g.op('Conv', [transpose(g, xs, [1, 0, 2, 3]), transpose(g, gs, [1, 0, 2, 3])], { kernel_shape: [ho, wo], dilations: [...strides], pads: [...pads] }, [ci, co, oh, ow]);
    if (oh !== kh || ow !== kw) part = slice(g, part, [0, 0], [kh, kw], [2, 3]);
    acc = acc ? add(g, acc, part) : part;
  }
  return transpose(g, acc!, [1, 0, 2, 3]);
}
