/**
 * Max-pool gradient without ORT's index-returning MaxPool (a scalar loop, 10–20× slower than the plain
 * kernel) and without ScatterElements: the input is split into its stride phases (SpaceToDepth), each kernel
 * tap becomes a unit-step Slice of one phase, and the window's gradient goes to the first tap, in row-major
 * order, that equals the window's maximum; the phases are put back with DepthToSpace.
 * NOTE: DepthToSpace is written as two Transposes that each move one axis: ORT runs those 2.5–5× faster
 * than its DepthToSpace kernel (a general 6-D permutation). The same trick for SpaceToDepth is undone by
 * ORT's transpose optimizer, which merges the two into one slow 6-D Transpose.
 */
import { dim, reshape, transpose, type Graph, type Value } from '../graph/index.ts';
import { concat, slice, sum, where } from '../graph/math.ts';
import type { Pads } from './conv-grad.ts';

/** Whether maxPoolGrad handles this pooling (equal strides); otherwise use the index-based rule. */
export function phaseSplittable(strides: readonly [number, number]): boolean {
  return strides[0] === strides[1];
}

export function maxPoolGrad(g: Graph, x: Value, y: Value, gy: Value, pool: readonly [number, number], strides: readonly [number, number], pads: Pads): Value {
  const [n, c, h, w] = [x.shape[0]!, dim(x.shape, 1), dim(x.shape, 2), dim(x.shape, 3)];
  const [ho, wo] = [dim(y.shape, 2), dim(y.shape, 3)];
  const [kh, kw] = pool, s = strides[0], [t, l] = pads;
  // padded extent covering every window, rounded up to whole phases
  const hq = Math.ceil(Math.max(h + t, (ho - 1) * s + kh) / s), wq = Math.ceil(Math.max(w + l, (wo - 1) * s + kw) / s);
  const [hp, wp] = [hq * s, wq * s];
  const padded = g.op('Pad', [x, g.ints([0, 0, t, l, 0, 0, hp - h - t, wp - w - l]), g.constant([-Infinity], [])], { mode: 'constant' }, [n, c, hp, wp]);
  const phases = s === 1 ? padded : g.op('SpaceToDepth', [padded], { blocksize: s }, [n, c * s * s, hq, wq]);
  const zero = g.scalar(0);
  const perPhase: Value[][] = Array.from({ length: s * s }, () => []);
  let rest = gy;
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const phase = (i % s) * s + (j % s), [oi, oj] = [Math.floor(i / s), Math.floor(j / s)];
      const tap = slice(g, phases, [phase * c, oi, oj], [(phase + 1) * c, oi + ho, oj + wo], [1, 2, 3]);
      const hit = g.op('Equal', [tap, y], {}, tap.shape, 'bool');
      const part = where(g, hit, rest, zero);
      if (i < kh - 1 || j < kw - 1) rest = where(g, hit, zero, rest); // a window's gradient goes to its first maximum only
      perPhase[phase]!.push(g.op('Pad', [part, g.ints([0, 0, oi, oj, 0, 0, hq - ho - oi, wq - wo - oj])], { mode: 'constant' }, [n, c, hq, wq]));
    }
  }
  // a phase no tap reaches (a window smaller than the stride) gets zeros; a symbolic batch is read from x
  const zeros = () => {
    const shape = typeof n === 'number' ? g.ints([n, c, hq, wq]) : concat(g, [g.op('Shape', [x], { end: 1 }, [1], 'int64'), g.ints([c, hq, wq])], 0);
    return g.op('Expand', [zero, shape], {}, [n, c, hq, wq]);
  };
  const grads = perPhase.map((parts) => (parts.length ? sum(g, parts) : zeros()));
  const whole = s === 1 ? grads[0]! : fromPhases(g, concat(g, grads, 1), s);
  return slice(g, whole, [t, l], [t + h, l + w], [2, 3]);
}

/** DepthToSpace(z, s) in DCR order (the inverse of SpaceToDepth) as two single-axis moves. */
function fromPhases(g: Graph, z: Value, s: number): Value {
  const [n, cs, hq, wq] = [z.shape[0]!, dim(z.shape, 1), dim(z.shape, 2), dim(z.shape, 3)];
  const c = cs / (s * s);
  // Reshape's 0 copies the (possibly symbolic) batch
  const cols = transpose(g, reshape(g, z, [0, s, s, c, hq, wq], [n, s, s, c, hq, wq]), [0, 1, 3, 4, 5, 2]); // [n, a, c, hq, wq, b]
  const rows = transpose(g, reshape(g, cols, [0, s, c, hq, wq * s], [n, s, c, hq, wq * s]), [0, 2, 3, 1, 4]); // [n, c, hq, a, w]
  return reshape(g, rows, [0, c, hq * s, wq * s], [n, c, hq * s, wq * s]);
}
