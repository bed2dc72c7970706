/**
 * A finer class activation map from the same weights: the last downsamplings before the pooled feature map are
 * undone (stride 1) and every layer after them is dilated by the stride it lost (the "à trous" rewrite of
 * Holschneider et al. 1989, as DeepLab uses it). The rewritten layers compute the original network at every
 * offset of the finer grid: on the positions of the original grid (every `lattice`-th cell, from 0) the
 * values are exactly the original ones, and the cells between are the same layers applied to the input shifted
 * by one finer cell. Keeping each undone layer's leading padding is what puts the original positions at 0, so no
 * branch of a residual block needs shifting to meet the other.
 *
 * The global pooling is fed the original positions only (a strided Slice), so the model's output is unchanged.
 */
import { TagbooruError } from '../errors.ts';
import type { AttributeProto, ModelProto, NodeProto, TensorProto } from '../graph/proto.ts';
import type { PoolHead } from '../graph/pool-head.ts';

/** Layers that act on each position alone, whatever the grid's spacing. */
const POINTWISE = new Set([
  'Relu', 'LeakyRelu', 'PRelu', 'Elu', 'Selu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Softplus', 'Mish', 'Gelu', 'Erf', 'Clip',
  'BatchNormalization', 'Add', 'Sub', 'Mul', 'Div', 'Identity', 'Transpose', 'Cast',
]);
/** Layers whose windows are dilated; anything else between an undone stride and the pooling is refused. */
const WINDOWED = new Set(['Conv', 'MaxPool']);
/** Layers that move across the grid and change its spacing. */
const STRIDED = new Set(['Conv', 'MaxPool', 'AveragePool', 'ConvTranspose']);

/** TensorProto data types and AttributeProto's INTS. */
const INT64 = 7, FLOAT = 1, INTS = 7;

export interface Densified {
  /** Map cells per cell of the original grid, per axis: 1 when nothing was undone. */
  readonly lattice: number;
  /** The stride of the pooled map in the original model, in input pixels. */
  readonly modelStride: number;
}

const attr = (n: NodeProto, name: string): AttributeProto | undefined => n.attribute?.find((a) => a.name === name) ?? undefined;
const ints = (n: NodeProto, name: string): number[] | undefined => attr(n, name)?.ints?.map(Number);

function setInts(n: NodeProto, name: string, values: number[]): void {
  const a = attr(n, name);
  if (a) a.ints = values;
  else (n.attribute ??= []).push({ name, type: INTS, ints: values });
}

/** A node's stride, one number (the grids here are square in spacing), or 1 for non-spatial layers. */
function strideOf(n: NodeProto): number {
  if (!STRIDED.has(n.opType!)) return 1;
  const s = ints(n, 'strides') ?? [1, 1];
  if (new Set(s).size > 1) throw new TagbooruError('E_MODEL', `${n.opType} ${n.name ?? ''} has strides ${s.join('×')}; a finer map needs the same stride on both axes`);
  return s[0] ?? 1;
}

function int64Tensor(name: string, values: number[]): TensorProto {
  const data = BigInt64Array.from(values.map(BigInt));
  return { name, dims: [values.length], dataType: INT64, rawData: new Uint8Array(data.buffer) };
}

/**
 * Each value's stride in input pixels, from the graph input (initializers have none); values after the
 * global pooling are absent.
 */
function strides(model: ModelProto, pool: NodeProto): Map<string, number> {
  const g = model.graph!;
  const constants = new Set((g.initializer ?? []).map((t) => t.name!));
  const f = new Map<string, number>((g.input ?? []).filter((i) => !constants.has(i.name!)).map((i) => [i.name!, 1]));
  for (const n of g.node ?? []) {
    if (n === pool) continue;
    const ins = (n.input ?? []).map((i) => f.get(i)).filter((v): v is number => v !== undefined);
    if (ins.length === 0) continue;
    const out = Math.max(...ins) * strideOf(n);
    for (const o of n.output ?? []) f.set(o, out);
  }
  return f;
}

/** The map strides this model can be rewritten to: its own, and each one an undone stride leaves, down to the input's. */
export function denseStrides(model: ModelProto, head: PoolHead): number[] {
  const f = strides(model, head.pool);
  const top = f.get(head.features);
  if (top === undefined || head.layout === 'tokens') return [];
  const nodes = model.graph!.node ?? [];
  const steps = nodes.filter((n) => strideOf(n) > 1 && f.has(n.input![0]!)).map((n) => [f.get(n.input![0]!)!, f.get(n.input![0]!)! * strideOf(n)] as const);
  const candidates = [top, ...steps.map(([from]) => from)].filter((t) => t <= top);
  // a layer striding across a target (from < t < to) cannot be split into stride 1 and a dilation
  return [...new Set(candidates)].filter((t) => !steps.some(([from, to]) => from < t && t < to)).sort((a, b) => b - a);
}

/**
 * ORT's MaxPool takes no pad as wide as its kernel, which a dilated window needs: the padding (−∞, as MaxPool
 * pads) moves to a Pad node before it.
 */
function padBefore(model: ModelProto, n: NodeProto, [t, l, b, r]: number[]): void {
  const g = model.graph!;
  const name = `${n.output![0]}_dense_pad`;
  g.initializer!.push(int64Tensor(`${name}_pads`, [0, 0, t!, l!, 0, 0, b!, r!]), { name: `${name}_value`, dims: [], dataType: FLOAT, floatData: [-Infinity] });
  g.node!.splice(g.node!.indexOf(n), 0, { opType: 'Pad', name, input: [n.input![0]!, `${name}_pads`, `${name}_value`], output: [name] });
  n.input![0] = name;
  setInts(n, 'pads', [0, 0, 0, 0]);
}

function refuse(n: NodeProto, why: string): never {
  throw new TagbooruError('E_MODEL', `a finer map needs the layers after the last downsamplings to be convolutions, max pools and per-position layers; ${n.opType} ${n.name ?? ''} ${why}; use the model's own stride`);
}

/**
 * Rewrite `model` (in place) so that `head.features` has stride `target` input pixels. The pooling then reads
 * the original positions through a strided Slice.
 */
export function densify(model: ModelProto, head: PoolHead, target: number): Densified {
  const f = strides(model, head.pool);
  const modelStride = f.get(head.features);
  if (modelStride === undefined || head.layout === 'tokens') throw new TagbooruError('E_MODEL', 'a finer map needs a convolutional feature map (this model pools tokens)');
  const valid = denseStrides(model, head);
  if (!valid.includes(target)) throw new TagbooruError('E_USAGE', `mapStride must be one of ${valid.join(', ')} for this model (its last feature map has stride ${modelStride}), received ${target}`);
  if (target === modelStride) return { lattice: 1, modelStride };

  const g = model.graph!;
  // lattice spacing of each value in the rewritten graph: original stride over the new one
  const spacing = (v: string) => (f.has(v) ? f.get(v)! / Math.min(f.get(v)!, target) : 1);
  // a copy: padBefore inserts nodes
  for (const n of [...(g.node ?? [])]) {
    if (n === head.pool || !(n.input ?? []).some((i) => f.has(i))) continue;
    const spatial = n.input!.filter((i) => f.has(i)), s = strideOf(n);
    const dIn = spacing(spatial[0]!);
    if (spatial.some((i) => spacing(i) !== dIn)) refuse(n, 'joins maps of different spacing');
    if (dIn === 1 && f.get(spatial[0]!)! * s <= target) continue; // before the rewritten part
    if (POINTWISE.has(n.opType!)) continue;
    if (!WINDOWED.has(n.opType!)) refuse(n, 'would have to see the finer grid');
    const autoPad = attr(n, 'auto_pad')?.s;
    if (autoPad && autoPad.length > 0 && Buffer.from(autoPad).toString() !== 'NOTSET') refuse(n, 'pads by auto_pad, which depends on the size');
    const kernel = ints(n, 'kernel_shape') ?? g.initializer?.find((t) => t.name === n.input![1])?.dims?.slice(2).map(Number);
    if (!kernel || kernel.length !== 2) refuse(n, 'has no 2-D kernel shape');
    const dil = ints(n, 'dilations') ?? [1, 1];
    const [t0, l0, b0, r0] = ints(n, 'pads') ?? [0, 0, 0, 0];
    // the original positions stay at 0: the leading pads scale with the spacing; the trailing ones cover what
    // the last position of the finer grid reads, which for an undone stride is the whole window's reach
    const end = (k: number, d: number, begin: number, trail: number) => dIn * (s > 1 ? (k - 1) * d - begin : trail);
    const pads = [t0! * dIn, l0! * dIn, end(kernel[0]!, dil[0]!, t0!, b0!), end(kernel[1]!, dil[1]!, l0!, r0!)];
    setInts(n, 'strides', [1, 1]);
    setInts(n, 'dilations', dil.map((d) => d * dIn));
    if (n.opType === 'MaxPool') padBefore(model, n, pads);
    else setInts(n, 'pads', pads);
  }

  const lattice = modelStride / target;
  const name = (hint: string) => `${head.features}_${hint}`;
  const axes = head.layout === 'NCHW' ? [2, 3] : [1, 2];
  g.initializer!.push(int64Tensor(name('starts'), [0, 0]), int64Tensor(name('ends'), [2 ** 62, 2 ** 62]), int64Tensor(name('axes'), axes), int64Tensor(name('steps'), [lattice, lattice]));
  const original = name('original_grid');
  const at = g.node!.indexOf(head.pool);
  g.node!.splice(at, 0, { opType: 'Slice', name: `${original}_slice`, input: [head.features, name('starts'), name('ends'), name('axes'), name('steps')], output: [original] });
  head.pool.input![0] = original;
  return { lattice, modelStride };
}
