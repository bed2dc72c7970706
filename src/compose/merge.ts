/**
 * Several models in one graph: each member's values, nodes and initializers renamed under its own prefix, its
 * image input wired to the shared input of its preprocessing, so one ONNX Runtime session runs them all.
 */
import { TagbooruError } from '../errors.ts';
import type { ModelProto, NodeProto, ValueInfoProto } from '../graph/proto.ts';

type GraphProto = NonNullable<ModelProto['graph']>;

/** Renames every value of a graph, subgraphs included; `rename` maps a name to the one it takes. */
function renameGraph(g: GraphProto, rename: (name: string) => string): void {
  const value = (v: ValueInfoProto) => (v.name = rename(v.name!));
  for (const n of g.node ?? []) renameNode(n, rename);
  for (const t of g.initializer ?? []) t.name = rename(t.name!);
  for (const s of g.sparseInitializer ?? []) if (s.values) s.values.name = rename(s.values.name!);
  (g.input ?? []).forEach(value);
  (g.output ?? []).forEach(value);
  (g.valueInfo ?? []).forEach(value);
}

function renameNode(n: NodeProto, rename: (name: string) => string): void {
  n.input = (n.input ?? []).map((x) => (x ? rename(x) : x));
  n.output = (n.output ?? []).map((x) => (x ? rename(x) : x));
  if (n.name) n.name = rename(n.name);
  for (const a of n.attribute ?? []) {
    if (a.g) renameGraph(a.g, rename);
    for (const sub of a.graphs ?? []) renameGraph(sub, rename);
  }
}

/** Every use and definition of value `from` in the graph's nodes (subgraphs included) now names `to`. */
export function renameValue(g: GraphProto, from: string, to: string): void {
  for (const n of g.node ?? []) renameNode(n, (name) => (name === from ? to : name));
}

export interface MemberWiring {
  /** The member's image input, read from the shared input `shared`. */
  readonly input: string;
  readonly shared: string;
  readonly prefix: string;
}

/**
 * Moves `member`'s nodes and initializers into `into` under `prefix`; returns the renaming, so callers find the
 * member's output (and its logits) in the merged graph. The member's own graph inputs and outputs are dropped.
 */
export function mergeMember(into: GraphProto, member: ModelProto, { input, shared, prefix }: MemberWiring, who: string): (name: string) => string {
  const g = member.graph!;
  const initializers = new Set((g.initializer ?? []).map((t) => t.name!));
  const others = (g.input ?? []).filter((i) => i.name !== input && !initializers.has(i.name!));
  if (others.length > 0) throw new TagbooruError('E_USAGE', `${who} has inputs besides its image (${others.map((i) => i.name).join(', ')}); an ensemble member takes one image input`);
  const rename = (name: string) => (name === input ? shared : `${prefix}${name}`);
  renameGraph(g, rename);
  into.node!.push(...(g.node ?? []));
  into.initializer!.push(...(g.initializer ?? []));
  into.sparseInitializer!.push(...(g.sparseInitializer ?? []));
  into.valueInfo!.push(...(g.valueInfo ?? []).filter((v) => v.name !== shared));
  return rename;
}

/** The model's local functions, gathered; two members defining one function name differently are refused. */
export function mergeFunctions(into: ModelProto, member: ModelProto, who: string): void {
  for (const f of member.functions ?? []) {
    const same = into.functions.find((x) => x.name === f.name && x.domain === f.domain);
    if (!same) into.functions.push(f);
    else if (JSON.stringify(same) !== JSON.stringify(f)) throw new TagbooruError('E_USAGE', `${who} defines function ${f.domain ?? ''}.${f.name ?? ''} differently from another member`);
  }
}
