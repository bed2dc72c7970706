/**
 * The explain worker: builds each variant model on first use (graph surgery and gradient graphs are heavy for
 * a large model) and runs it, so neither the building nor the running blocks the main thread.
 */
import type { Bundle } from '../infer/bundle.ts';
import { ModelSession, type TensorData } from '../infer/session.ts';
import { transfer } from '../workers/protocol.ts';
import { serve } from '../workers/serve.ts';
import { buildVariant, type VariantInfo, type VariantName } from './variants.ts';

export interface ExplainWorkerInit {
  /** The models to explain: one bundle, or an ensemble's members. */
  readonly bundles: readonly Bundle[];
  readonly threads?: number;
}
export type ExplainRequest =
  | { op: 'describe'; model: number; variant: VariantName }
  | { op: 'run'; model: number; variant: VariantName; feeds: Record<string, TensorData>; fetches: string[] };
export type ExplainResponse = { info: VariantInfo } | { outputs: Record<string, TensorData> };

// one request at a time (serial): two variants running together would only share the same cores
await serve<ExplainWorkerInit, ExplainRequest, ExplainResponse>((init) => {
  const variants = new Map<string, Promise<{ session: ModelSession; info: VariantInfo }>>();
  const variant = (model: number, name: VariantName) => {
    const key = `${model}:${name}`;
    let v = variants.get(key);
    if (!v) {
      v = buildVariant(name, init.bundles[model]!).then(async ({ model, info }) => ({ session: await ModelSession.create(model, { threads: init.threads, spinning: false }), info }));
      variants.set(key, v); // a failure is kept too: the same bundle fails the same way
    }
    return v;
  };
  return {
    handle: async (req) => {
      const { session, info } = await variant(req.model, req.variant);
      if (req.op === 'describe') return { info };
      const outputs = await session.run(req.feeds, req.fetches);
      return transfer({ outputs }, Object.values(outputs).map((t) => t.data.buffer));
    },
  };
}, { serial: true });
