/** Edits on a decoded ONNX model that any layer may make: fresh value names, extra outputs, re-encoding. */
import { onnx, type ModelProto } from './proto.ts';

const FLOAT = 1, INT64 = 7;

/** Names not yet used in the graph. */
export function namer(model: ModelProto): (hint: string) => string {
  const g = model.graph!;
  const used = new Set<string>([
    ...(g.node ?? []).flatMap((n) => [...(n.output ?? []), n.name ?? '']),
    ...(g.input ?? []).map((i) => i.name!),
    ...(g.initializer ?? []).map((t) => t.name!),
  ]);
  return (hint) => {
    let name = hint;
    for (let i = 1; used.has(name); i++) name = `${hint}_${i}`;
    used.add(name);
    return name;
  };
}

type Attribute = { name: string; type: number; i?: number; f?: number; ints?: number[] };

/** A function appending one node of one output to the graph, its value named `<prefix>_<op>`; returns that name. */
export function nodeAppender(model: ModelProto, fresh: (hint: string) => string, prefix: string) {
  const g = model.graph!;
  return (opType: string, input: string[], attribute: Attribute[] = []): string => {
    const out = fresh(`${prefix}_${opType.toLowerCase()}`);
    g.node!.push({ opType, name: fresh(`node_${out}`), input, output: [out], attribute });
    return out;
  };
}

/** Add a float32 constant as an initializer under a fresh name. */
export function addFloatInitializer(model: ModelProto, fresh: (hint: string) => string, hint: string, dims: readonly number[], values: Float32Array): string {
  const name = fresh(hint);
  const bytes = new Uint8Array(values.byteLength);
  bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  model.graph!.initializer!.push({ name, dims: [...dims], dataType: FLOAT, rawData: bytes });
  return name;
}

/** Add an int64 constant as an initializer under a fresh name. */
export function addInt64Initializer(model: ModelProto, fresh: (hint: string) => string, hint: string, dims: readonly number[], values: readonly number[]): string {
  const name = fresh(hint);
  model.graph!.initializer!.push({ name, dims: [...dims], dataType: INT64, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });
  return name;
}

/** The version of the standard operator set the model imports (the empty domain, or its alias ai.onnx). */
export function opsetOf(model: ModelProto): number {
  const entry = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  return Number(entry?.version ?? 0);
}

/** Mark existing values as graph outputs (float, shape left to the runtime). */
export function addOutputs(model: ModelProto, names: readonly string[]): void {
  const outputs = model.graph!.output!;
  for (const name of names) {
    if (!outputs.some((o) => o.name === name)) outputs.push({ name, type: { tensorType: { elemType: FLOAT } } });
  }
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Declare axes of graph inputs and outputs symbolic (`{ x: { 1: 'height', 2: 'width' } }`), for a graph built
 * at one size whose nodes carry no size (convolutions with explicit pads, element-wise ops): ONNX Runtime then
 * runs it at any size.
 */
export function symbolicAxes(model: ModelProto, axes: Readonly<Record<string, Readonly<Record<number, string>>>>): void {
  const g = model.graph!;
  for (const info of [...(g.input ?? []), ...(g.output ?? [])]) {
    const wanted = axes[info.name!];
    const dims = info.type?.tensorType?.shape?.dim;
    if (!wanted || !dims) continue;
    for (const [axis, param] of Object.entries(wanted)) dims[Number(axis)] = { dimParam: param };
  }
}

type GraphProto = NonNullable<ModelProto['graph']>;

/** Every value a node reads, the outer-scope values its subgraphs (If, Loop, Scan bodies) read included. */
function nodeReads(node: NonNullable<GraphProto['node']>[number]): string[] {
  const reads = (node.input ?? []).filter(Boolean);
  for (const a of node.attribute ?? []) for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) for (const n of sub.node ?? []) reads.push(...nodeReads(n));
  return reads;
}

/**
 * The part of the graph that computes `output`, in place: the nodes it depends on, the initializers and graph
 * inputs they read, and `output` as the only graph output. Whatever else the graph computed is dropped.
 */
export function keepOnlyOutput(model: ModelProto, output: string): void {
  const g = model.graph!;
  const producer = new Map<string, number>();
  (g.node ?? []).forEach((n, i) => (n.output ?? []).forEach((o) => producer.set(o, i)));
  const needed = new Set<string>(), keep = new Set<number>();
  const stack = [output];
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (needed.has(v)) continue;
    needed.add(v);
    const i = producer.get(v);
    if (i === undefined || keep.has(i)) continue;
    keep.add(i);
    stack.push(...nodeReads(g.node![i]!));
  }
  const declared = [...(g.output ?? []), ...(g.valueInfo ?? [])].find((v) => v.name === output);
  g.node = (g.node ?? []).filter((_, i) => keep.has(i));
  g.initializer = (g.initializer ?? []).filter((t) => needed.has(t.name!));
  g.sparseInitializer = (g.sparseInitializer ?? []).filter((s) => needed.has(s.values?.name ?? ''));
  g.input = (g.input ?? []).filter((i) => needed.has(i.name!));
  g.valueInfo = (g.valueInfo ?? []).filter((v) => needed.has(v.name!) && v.name !== output);
  g.output = [declared ?? { name: output, type: { tensorType: { elemType: FLOAT } } }];
}
