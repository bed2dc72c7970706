/**
 * One graph has one opset per domain, so members exported at different opsets run at the newest of them. Most
 * operators read the same at every version; those below changed their inputs or meaning at the listed versions,
 * and a member using one across such a change is refused rather than run with a different meaning.
 */
import { TagbooruError } from '../errors.ts';
import type { ModelProto, NodeProto } from '../graph/proto.ts';
import { opsetOf } from '../graph/surgery.ts';

const REDUCE_18 = ['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'];

/** Operator → the opset versions at which it stopped reading as before (standard domain). */
const BREAKS: Readonly<Record<string, readonly number[]>> = {
  Squeeze: [13], Unsqueeze: [13], ReduceSum: [13], Split: [13, 18],
  ...Object.fromEntries(REDUCE_18.map((op) => [op, [18]])),
  Softmax: [13], LogSoftmax: [13], Hardmax: [13],
  Resize: [11, 13, 18, 19], Upsample: [9, 10], Pad: [11, 18], Clip: [11], Dropout: [12], TopK: [10], Slice: [10],
  BatchNormalization: [9, 14], Gemm: [7], Scatter: [11], Cast: [13],
};

export type Opsets = ReadonlyMap<string, number>;

export function opsetsOf(model: ModelProto): Map<string, number> {
  return new Map((model.opsetImport ?? []).map((o) => [o.domain ?? '', Number(o.version ?? 0)]));
}

/** Each domain at its newest version among the models. */
export function mergedOpsets(models: readonly ModelProto[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of models) for (const [d, v] of opsetsOf(m)) out.set(d, Math.max(out.get(d) ?? 0, v));
  return out;
}

function* allNodes(nodes: readonly NodeProto[]): Generator<NodeProto> {
  for (const n of nodes) {
    yield n;
    for (const a of n.attribute ?? []) {
      if (a.g) yield* allNodes(a.g.node ?? []);
      for (const g of a.graphs ?? []) yield* allNodes(g.node ?? []);
    }
  }
}

/** Refuses a model (named `who`) whose standard operators would read differently at the merged opset. */
export function checkOpsetUpgrade(model: ModelProto, target: Opsets, who: string): void {
  const from = opsetOf(model);
  const to = target.get('') ?? from;
  if (from === to) return;
  const broken = new Set<string>();
  for (const n of allNodes(model.graph?.node ?? [])) {
    if (n.domain && n.domain !== 'ai.onnx') continue;
    if (BREAKS[n.opType!]?.some((v) => v > from && v <= to)) broken.add(n.opType!);
  }
  if (broken.size > 0) {
    throw new TagbooruError('E_USAGE', `${who} is exported at opset ${from} and another member at ${to}; its ${[...broken].join(', ')} changed meaning between those versions, so they cannot share one graph. Re-export the members at one opset`);
  }
}
