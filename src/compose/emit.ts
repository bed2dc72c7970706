/**
 * Nodes appended to a decoded ONNX model: the glue an ensemble or a test-time-augmented graph adds around
 * graphs it did not build (so the typed builder of src/graph, which makes whole graphs, does not apply).
 */
import { encodeAttributes, type Attrs } from '../graph/attributes.ts';
import type { ModelProto, TensorProto } from '../graph/proto.ts';
import { namer } from '../graph/surgery.ts';

const FLOAT = 1, INT64 = 7;

export class Emitter {
  private readonly fresh: (hint: string) => string;

  constructor(private readonly model: ModelProto) {
    this.fresh = namer(model);
  }

  name(hint: string): string {
    return this.fresh(hint);
  }

  /** One node with one output; returns the output's name. */
  node(opType: string, inputs: readonly string[], attrs: Attrs = {}, hint = opType.toLowerCase()): string {
    const out = this.fresh(hint);
    this.model.graph!.node!.push({ opType, name: this.fresh(`node_${out}`), input: [...inputs], output: [out], attribute: encodeAttributes(attrs) });
    return out;
  }

  floats(values: ArrayLike<number>, dims: readonly number[], hint = 'const_f'): string {
    return this.initializer({ dims: [...dims], dataType: FLOAT, rawData: bytes(Float32Array.from(values)) }, hint);
  }

  ints(values: readonly number[], dims: readonly number[] = [values.length], hint = 'const_i'): string {
    return this.initializer({ dims: [...dims], dataType: INT64, rawData: bytes(BigInt64Array.from(values, (v) => BigInt(v))) }, hint);
  }

  private initializer(t: TensorProto, hint: string): string {
    const name = this.fresh(hint);
    this.model.graph!.initializer!.push({ ...t, name });
    return name;
  }
}

function bytes(a: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
