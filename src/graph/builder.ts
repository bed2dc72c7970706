import { InvariantError } from '../errors.ts';
import { encodeAttributes, type Attrs } from './attributes.ts';
import { onnx, type NodeProto, type TensorProto, type ValueInfoProto } from './proto.ts';
import { ONNX_DTYPE, numel, type DType, type Shape, type Value } from './types.ts';

export const OPSET = 17;
export const IR_VERSION = 8;

type TensorData = Float32Array | BigInt64Array | Uint8Array;

function dtypeOf(data: TensorData): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof BigInt64Array) return 'int64';
  return 'bool';
}

/**
 * A typed ONNX graph under construction. Every value carries a static shape (the batch may be symbolic),
 * so op helpers check their operands while the graph is built instead of failing in ONNX Runtime.
 */
export class Graph {
  private readonly nodes: NodeProto[] = [];
  private readonly inits: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly names = new Set<string>();
  /** Names handed out by fresh() and not yet bound to a value. */
  private readonly pending = new Set<string>();
  private readonly constCache = new Map<string, Value>();
  /** Operator domains besides the standard one, each imported at version 1. */
  private readonly domains = new Set<string>();
  private counter = 0;

  constructor(readonly name: string) {}

  /** A fresh unique name derived from `hint`. */
  fresh(hint: string): string {
    let n = hint;
    while (this.names.has(n)) n = `${hint}_${++this.counter}`;
    this.names.add(n);
    this.pending.add(n);
    return n;
  }

  private claim(name: string): string {
    if (this.pending.delete(name)) return name;
    if (this.names.has(name)) throw new InvariantError(`graph ${this.name}: duplicate value name "${name}"`);
    this.names.add(name);
    return name;
  }

  input(name: string, dtype: DType, shape: Shape): Value {
    this.inputs.push(valueInfo(this.claim(name), dtype, shape));
    return { name, dtype, shape };
  }

  initializer(name: string, data: TensorData, shape: readonly number[]): Value {
    if (numel(shape) !== data.length) throw new InvariantError(`initializer ${name}: ${data.length} values for shape [${shape.join(',')}]`);
    const dtype = dtypeOf(data);
    this.inits.push({
      name: this.claim(name),
      dims: [...shape],
      dataType: ONNX_DTYPE[dtype],
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    return { name, dtype, shape };
  }

  /** A small constant, deduplicated by value. */
  constant(values: readonly number[] | readonly bigint[], shape: readonly number[], dtype: 'float32' | 'int64' = 'float32'): Value {
    const key = `${dtype}:${shape.join('x')}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const data = dtype === 'int64'
      ? BigInt64Array.from(values as readonly (number | bigint)[], (v) => BigInt(v))
      : Float32Array.from(values as readonly number[]);
    const v = this.initializer(this.fresh(dtype === 'int64' ? 'const_i' : 'const_f'), data, shape);
    this.constCache.set(key, v);
    return v;
  }

  scalar(value: number): Value {
    return this.constant([value], []);
  }

  ints(values: readonly number[]): Value {
    return this.constant(values, [values.length], 'int64');
  }

  /** Emit a node with one output whose shape the caller computed. */
  op(opType: string, inputs: readonly (Value | null)[], attrs: Attrs, shape: Shape, dtype: DType = 'float32', name?: string): Value {
    return this.opN(opType, inputs, attrs, [{ shape, dtype }], name)[0]!;
  }

  /** A node of a runtime's own operator set (ONNX Runtime's `com.microsoft.nchwc`), version 1. */
  opIn(domain: string, opType: string, inputs: readonly (Value | null)[], attrs: Attrs, shape: Shape, name?: string): Value {
    this.domains.add(domain);
    return this.opN(opType, inputs, attrs, [{ shape, dtype: 'float32' }], name, domain)[0]!;
  }

  opN(opType: string, inputs: readonly (Value | null)[], attrs: Attrs, outs: readonly { shape: Shape; dtype: DType }[], name?: string, domain?: string): Value[] {
    const base = name ?? opType.toLowerCase();
    const values = outs.map((o, i) => ({ name: this.claim(this.fresh(i === 0 ? base : `${base}_${i}`)), shape: o.shape, dtype: o.dtype }));
    this.nodes.push({
      opType,
      ...(domain ? { domain } : {}),
      name: this.claim(this.fresh(`node_${base}`)),
      input: inputs.map((v) => v?.name ?? ''),
      output: values.map((v) => v.name),
      attribute: encodeAttributes(attrs),
    });
    return values;
  }

  /** Mark `value` as a graph output, renaming it through Identity when a public name is wanted. */
  output(value: Value, name?: string): Value {
    let v = value;
    if (name !== undefined && name !== value.name) v = this.op('Identity', [value], {}, value.shape, value.dtype, name);
    if (name !== undefined && v.name !== name) throw new InvariantError(`output name "${name}" is already taken`);
    this.outputs.push(valueInfo(v.name, v.dtype, v.shape));
    return v;
  }

  /** The nodes and initializers the outputs depend on, in order: one sweep back from the outputs (the nodes are in topological order). */
  private live(): { node: NodeProto[]; initializer: TensorProto[] } {
    const needed = new Set(this.outputs.map((v) => v.name!));
    const kept: NodeProto[] = [];
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i]!;
      if (!n.output!.some((name) => needed.has(name))) continue;
      kept.push(n);
      for (const name of n.input!) needed.add(name);
    }
    return { node: kept.reverse(), initializer: this.inits.filter((t) => needed.has(t.name!)) };
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** `prune`: drop the nodes and initializers no output depends on (a builder may emit a fused node in place of one it emitted before). */
  toModel(docString = '', o: { prune?: boolean } = {}): Uint8Array {
    const { node, initializer } = o.prune ? this.live() : { node: this.nodes, initializer: this.inits };
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }, ...[...this.domains].map((domain) => ({ domain, version: 1 }))],
      producerName: 'tagbooru',
      docString,
      graph: { name: this.name, node, initializer, input: this.inputs, output: this.outputs },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, dtype: DType, shape: Shape): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ONNX_DTYPE[dtype],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}
