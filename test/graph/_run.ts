/** Run a tiny builder graph through ONNX Runtime: every operand is a graph input, the result is one output. */
import type { Graph, Value } from '../../src/graph/index.ts';
import { ModelSession } from '../../src/infer/session.ts';
import type { Tensor } from '../oracle/reference.ts';

export const BATCH = 'N';

/** Graph inputs take a symbolic batch; feeds give the concrete one. */
export async function runGraph(g: Graph, out: Value, feeds: Record<string, Tensor>): Promise<{ data: Float32Array; dims: readonly number[] }> {
  g.output(out, 'y');
  const session = await ModelSession.create(g.toModel(), { threads: 1, spinning: false });
  try {
    const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: Float32Array.from(t.data), dims: t.shape }]));
    const result = (await session.run(ortFeeds)).y;
    if (!result) throw new Error('graph produced no output y');
    return result;
  } finally {
    await session.release();
  }
}

/** The static shape the helper computed, with the symbolic batch replaced by the fed one. */
export const staticDims = (v: Value, batch: number) => v.shape.map((d) => (d === BATCH ? batch : d));
