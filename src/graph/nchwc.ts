/**
 * Convolution through ONNX Runtime's blocked-layout kernels (operator set `com.microsoft.nchwc`), for convs
 * whose weights are graph inputs. ORT moves a Conv to these kernels itself only when its weights are
 * initializers, reordering them once while it optimises the graph; a training step feeds new weights every
 * run, so it would fall back to im2col + GEMM (README.md, Benchmarks: training). Here the graph reorders the
 * weights itself on every run — kilobytes to a few megabytes against maps of tens of megabytes — and
 * brackets the conv with ORT's own input and output reorders.
 *
 * The block is the channel count the kernels work in (16 with AVX-512, 8 with AVX2); ORT does not report
 * it, so the caller passes what `nchwcBlockSize` (src/train/nchwc-probe.ts) measured, 0 for none.
 */
import { InvariantError } from '../errors.ts';
import type { Graph } from './builder.ts';
import { convGeometry, reshape, transpose, type ConvOptions } from './ops.ts';
import { dim, type Value } from './types.ts';

export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

/** Whether the blocked kernel takes this conv: whole output blocks, and an input of whole blocks or narrower than one (read as NCHW). */
export function takesBlocked(inChannels: number, outChannels: number, group: number, block: number): boolean {
  return block > 1 && group === 1 && outChannels % block === 0 && (inChannels < block || inChannels % block === 0);
}

/**
 * Whether a conv on fed weights should go to the blocked kernel: spatial kernels only. The blocked 3×3 and
 * 7×7 run 1.1–5× faster than im2col on fed weights (bench case a), while a 1×1 is one GEMM either way and
 * the two reorders around it cost more than they save.
 */
export function blockedPays(kernel: readonly [number, number], inChannels: number, outChannels: number, block: number): boolean {
  return kernel[0] * kernel[1] > 1 && takesBlocked(inChannels, outChannels, 1, block);
}

/**
 * OIHW → the kernel's layout, shape unchanged: output channels in blocks of `block` innermost, and for a
 * blocked input the input channels in blocks next to them (OIHWBiBo); an NCHW input keeps them whole (OIHWBo).
 */
export function blockedKernel(g: Graph, w: Value, block: number): Value {
  const [o, i, k] = [dim(w.shape, 0), dim(w.shape, 1), dim(w.shape, 2) * dim(w.shape, 3)];
  const b = block;
  // [O/B, Bo, I·k] → [O/B, I·k, Bo]: the output block innermost (all the layout an NCHW input needs)
  const boInner = swapLastTwo(g, w, [o / b, b, i * k]);
  if (i < b) return reshape(g, boInner, w.shape.map(Number), w.shape);
  // [O/B·I/B, Bi, k, Bo] → [O/B·I/B, k, Bi, Bo]
  const pairs = (o / b) * (i / b);
  const blocked = transpose(g, reshape(g, boInner, [pairs, b, k, b], [pairs, b, k, b]), [0, 2, 1, 3]);
  return reshape(g, blocked, w.shape.map(Number), w.shape);
}

/**
 * x viewed as `shape` with its last two axes swapped. NOTE: reorders are built from such single-axis moves
 * because ORT's Transpose runs them as block copies, while one 5-D permutation falls to an element-by-element
 * loop: 0.23 ms against 0.75 for a 128×128×3×3 kernel, on every run of a training step.
 */
function swapLastTwo(g: Graph, x: Value, shape: readonly number[]): Value {
  const n = shape.length;
  const perm = [...Array.from({ length: n - 2 }, (_, j) => j), n - 1, n - 2];
  return transpose(g, reshape(g, x, shape, shape), perm);
}

/**
 * The kernel of conv's input gradient, W'[i,o] = W[o,i] rotated by 180°, in the layout blockedKernel gives W'.
 * Reversing the flattened kh·kw axis is the rotation; it is taken with the blocks innermost, so the Gather
 * moves whole Bi·Bo runs.
 */
export function blockedFlippedKernel(g: Graph, w: Value, block: number): Value {
  const [o, i, kh, kw] = [dim(w.shape, 0), dim(w.shape, 1), dim(w.shape, 2), dim(w.shape, 3)];
  const b = block, k = kh * kw;
  // W' has i outputs and o inputs: [i/B, o/B, k, Bo(W' input), Bi(W' output)], or [i/B, o, k, Bi] for o < B.
  // [O, I/B, Bi·k] → [I/B, O, Bi·k], then per run of (Bo·)Bi·k: k outermost
  const byInputBlock = transpose(g, reshape(g, w, [o, i / b, b * k], [o, i / b, b * k]), [1, 0, 2]);
  const runs = o < b ? (i / b) * o : (i / b) * (o / b), run = o < b ? b : b * b;
  const reordered = reshape(g, swapLastTwo(g, byInputBlock, [runs, run, k]), [runs, k, run], [runs, k, run]);
  const reversed = Array.from({ length: k }, (_, j) => k - 1 - j);
  const flipped = g.op('Gather', [reordered, g.ints(reversed)], { axis: 1 }, reordered.shape);
  return reshape(g, flipped, [i, o, kh, kw], [i, o, kh, kw]);
}

/**
 * The blocked kernel on NCHW values: x [N,C,H,W], `kernel` already in the kernel's layout (blockedKernel or
 * blockedFlippedKernel; its shape is the logical [O,C,kh,kw]). Callers check takesBlocked first.
 */
export function blockedConv2d(g: Graph, x: Value, kernel: Value, bias: Value | null, o: ConvOptions, block: number): Value {
  const ci = dim(x.shape, 1);
  const yb = nchwcConv(g, ci < block ? x : reorderInput(g, x), kernel, bias, o, block);
  return reorderOutput(g, yb, o.name);
}

/**
 * The blocked kernel on a blocked x (or an NCHW one narrower than a block), giving a blocked output: a tensor
 * of the logical shape [N,O,H,W] laid out [N,O/B,H,W,B]. `sum` (blocked, the output's shape) is added to the
 * result in place; `relu` applies after it.
 */
export function nchwcConv(g: Graph, x: Value, kernel: Value, bias: Value | null, o: ConvOptions & { sum?: Value; relu?: boolean }, block: number): Value {
  const { attrs, shape } = convGeometry(x, kernel, o);
  const [ci, co] = [dim(x.shape, 1), dim(kernel.shape, 0)];
  if (!takesBlocked(ci, co, o.group ?? 1, block)) throw new InvariantError(`nchwcConv: ${ci} → ${co} channels do not fit blocks of ${block}`);
  // an absent bias before a sum is an empty input name
  const inputs = o.sum ? [x, kernel, bias, o.sum] : bias ? [x, kernel, bias] : [x, kernel];
  return g.opIn(NCHWC_DOMAIN, 'Conv', inputs, { ...attrs, ...(o.relu ? { activation: 'Relu' } : {}) }, shape);
}

/** NCHW → blocked (the channels a whole number of blocks). */
export const reorderInput = (g: Graph, x: Value): Value => g.opIn(NCHWC_DOMAIN, 'ReorderInput', [x], {}, x.shape);

/** Blocked → NCHW. */
export const reorderOutput = (g: Graph, x: Value, name?: string): Value => g.opIn(NCHWC_DOMAIN, 'ReorderOutput', [x], { channels: dim(x.shape, 1) }, x.shape, name);
