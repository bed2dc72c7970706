/**
 * The explain worker: builds each variant model on first use (graph surgery and gradient graphs are heavy for
 * a large model) and runs it, so neither the building nor the running blocks the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../errors.ts';
import type { Bundle } from '../infer/bundle.ts';
import { ModelSession, type TensorData } from '../infer/session.ts';
import { buildVariant, type VariantInfo, type VariantName } from './variants.ts';

export interface ExplainWorkerInit {
  readonly module: string;
  readonly bundle: Bundle;
  readonly threads?: number;
}
export type ExplainRequest =
  | { id: number; op: 'describe'; variant: VariantName }
  | { id: number; op: 'run'; variant: VariantName; feeds: Record<string, TensorData>; fetches: string[] };
export type ExplainReply =
  | { id: number; ok: true; info: VariantInfo }
  | { id: number; ok: true; outputs: Record<string, TensorData> }
  | { id: number; ok: false; message: string; code?: string };

const port = parentPort!;
const init = workerData as ExplainWorkerInit;
const variants = new Map<VariantName, Promise<{ session: ModelSession; info: VariantInfo }>>();

function variant(name: VariantName) {
  let v = variants.get(name);
  if (!v) {
    v = buildVariant(name, init.bundle).then(async ({ model, info }) => ({ session: await ModelSession.create(model, { threads: init.threads, spinning: false }), info }));
    variants.set(name, v); // a failure is kept too: the same bundle fails the same way
  }
  return v;
}

async function answer(req: ExplainRequest): Promise<ExplainReply> {
  const { session, info } = await variant(req.variant);
  if (req.op === 'describe') return { id: req.id, ok: true, info };
  return { id: req.id, ok: true, outputs: await session.run(req.feeds, req.fetches) };
}

// one request at a time: two variants running together would only share the same cores
let queue = Promise.resolve();
port.on('message', (req: ExplainRequest) => {
  queue = queue.then(() => answer(req)).then(
    (reply) => port.postMessage(reply, 'outputs' in reply ? Object.values(reply.outputs).map((t) => t.data.buffer as ArrayBuffer) : []),
    (e: unknown) => port.postMessage({ id: req.id, ok: false, message: errorMessage(e), code: (e as { code?: string }).code } satisfies ExplainReply),
  );
});
