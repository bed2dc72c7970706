/**
 * Mutually exclusive tags: a group of which an image carries at most one, such as a count (`solo`, `2others`,
 * …, `6+others`). Independent sigmoids let such tags all fire or all stay silent, and each learns its own
 * boundary of a quantity the features hold once. The group is read instead as one softmax over its K logits
 * and an implicit "none of them" class whose logit is 0:
 *   p_k = e^{z_k} / (1 + Σ_j e^{z_j}),
 * which for K = 1 is the sigmoid. The model keeps a sigmoid output all the same, so thresholds, calibration,
 * ensembles (which combine the logits before a model's final Sigmoid) and the OOD energy read it unchanged:
 * each member of the group gets the logit whose sigmoid is p_k,
 *   z'_k = z_k − log(1 + Σ_{j≠k} e^{z_j}),
 * and every other tag keeps its logit. The groups live on the output sigmoid layer as indices into the tags.
 */
import { TagbooruError } from '../errors.ts';
import { add, dim, matmul, sub, type Graph, type Value } from '../graph/index.ts';
import { div, exp, log, max, neg } from '../graph/math.ts';
import type { ModelSpec } from './spec.ts';

/** Tag indices, one list per group; groups are disjoint and each has two or more members. */
export type ExclusiveGroups = readonly (readonly number[])[];

/** The smallest positive normal float32: keeps log() finite when e^{−c} and every other member's e^{z−c} underflow. */
const TINY = 1.1754944e-38;

/** Why `groups` cannot be the exclusive groups of `width` tags, or null when they can. */
export function exclusiveGroupsProblem(groups: ExclusiveGroups, width: number): string | null {
  const seen = new Set<number>();
  for (const [k, group] of groups.entries()) {
    if (group.length < 2) return `group ${k} has ${group.length} tag; a group needs two or more`;
    for (const i of group) {
      if (!Number.isInteger(i) || i < 0 || i >= width) return `group ${k} names tag index ${i}; the output has ${width} tags`;
      if (seen.has(i)) return `tag index ${i} is in two groups (or twice in one)`;
      seen.add(i);
    }
  }
  return null;
}

/** The output layer's groups ([] without any). */
export function exclusiveGroupsOf(spec: ModelSpec): ExclusiveGroups {
  const out = spec.layers.find((l) => l.name === spec.output);
  return out?.kind === 'sigmoid' ? (out.exclusive ?? []) : [];
}

/** `spec` with its output sigmoid reading `groups` (an empty list removes them). */
export function withExclusiveGroups(spec: ModelSpec, groups: ExclusiveGroups): ModelSpec {
  const out = spec.layers.find((l) => l.name === spec.output);
  if (out?.kind !== 'sigmoid') {
    if (groups.length === 0) return spec;
    throw new TagbooruError('E_MODEL', `model ${spec.name}: exclusive tags need a sigmoid output, and ${spec.output} is ${out?.kind ?? 'missing'}`);
  }
  const layers = spec.layers.map((l) => {
    if (l !== out) return l;
    const { exclusive: _, ...plain } = out;
    return groups.length ? { ...plain, exclusive: groups.map((g) => [...g]) } : plain;
  });
  return { ...spec, layers };
}

/**
 * One group's logits in a graph, [N, K], and what is computed from them. The sums and the shift are built when
 * first read and then shared, so each graph holds only what it uses, once: the inference model the shift alone,
 * the loss the log-partition and the probabilities, the attack graph the shift for its forward and its backward.
 */
export interface Group {
  readonly indices: readonly number[];
  /** z restricted to the group */
  readonly z: Value;
  /** c = max(0, max_k z_k), [N, 1]: every exponential is taken after subtracting it */
  readonly c: Value;
  /** e^{z_k − c} */
  readonly e: Value;
  /** e^{−c}, the "none" class's term, [N, 1] */
  readonly none: Value;
  /** Σ_k e^{z_k − c}, [N, 1] */
  readonly total: Value;
  /** log(1 + Σ_{j≠k} e^{z_j}), [N, K]: what the group takes off z_k */
  readonly shift: Value;
}

/** A constant [rows, cols] matrix from its entries. */
function matrix(g: Graph, rows: number, cols: number, at: (r: number, c: number) => number): Value {
  return g.constant(Array.from({ length: rows * cols }, (_, i) => at(Math.floor(i / cols), i % cols)), [rows, cols]);
}

/** [k, k]: 1 off the diagonal, 0 on it; x·it sums, for each member, the others. */
export function offDiagonal(g: Graph, k: number): Value {
  return matrix(g, k, k, (r, col) => (r === col ? 0 : 1));
}

/** c + log(e^{−c} + s): log(1 + Σ e^z) over whichever members `s` sums (after the shift by c). */
function logOnePlus(g: Graph, c: Value, none: Value, s: Value): Value {
  return add(g, c, log(g, max(g, add(g, none, s), g.scalar(TINY))));
}

function groupOf(g: Graph, z: Value, indices: readonly number[]): Group {
  const n = z.shape[0]!, k = indices.length;
  const zg = g.op('Gather', [z, g.ints(indices)], { axis: 1 }, [n, k]);
  const c = max(g, g.op('ReduceMax', [zg], { axes: [1], keepdims: 1 }, [n, 1]), g.scalar(0));
  const e = exp(g, sub(g, zg, c)), none = exp(g, neg(g, c));
  let total: Value | undefined, shift: Value | undefined;
  // sums as products with constant matrices; Σ_{j≠k} directly, not Σ − e_k: no cancellation when one e dominates
  return {
    indices, z: zg, c, e, none,
    get total() {
      return (total ??= matmul(g, e, matrix(g, k, 1, () => 1)));
    },
    get shift() {
      return (shift ??= logOnePlus(g, c, none, matmul(g, e, offDiagonal(g, k))));
    },
  };
}

/** Every group built on the logits `z` [N, T]. */
export function groupsOf(g: Graph, z: Value, groups: ExclusiveGroups): Group[] {
  return groups.map((indices) => groupOf(g, z, indices));
}

/** log(1 + Σ_k e^{z_k}), [N, 1]: the log-partition of the K + 1 classes. */
export function logPartition(g: Graph, t: Group): Value {
  return logOnePlus(g, t.c, t.none, t.total);
}

/** p_k = e^{z_k} / (1 + Σ_j e^{z_j}), [N, K]. */
export function probabilityOf(g: Graph, t: Group): Value {
  return div(g, t.e, add(g, t.none, t.total));
}

/** [N, K] → [N, T]: each group column put back at its tag's place, zero elsewhere. */
export function scatterGroup(g: Graph, x: Value, indices: readonly number[], tags: number): Value {
  return matmul(g, x, matrix(g, indices.length, tags, (r, c) => (indices[r] === c ? 1 : 0)));
}

/** z' of the module comment from groups already built on `z` [N, T]. */
export function shiftedLogits(g: Graph, z: Value, groups: readonly Group[]): Value {
  const tags = dim(z.shape, 1);
  return groups.reduce((out, t) => sub(g, out, scatterGroup(g, t.shift, t.indices, tags)), z);
}

/** z' of the module comment: the logits whose sigmoid is each tag's probability. `z` is [N, T]. */
export function exclusiveLogits(g: Graph, z: Value, groups: ExclusiveGroups): Value {
  return shiftedLogits(g, z, groupsOf(g, z, groups));
}
