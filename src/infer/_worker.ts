/** Runs one ONNX session off the main thread: the event loop keeps decoding while the model computes. */
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../errors.ts';
import { ModelSession, type TensorData } from './session.ts';

export interface WorkerInit {
  readonly module: string;
  readonly model: string | Uint8Array;
  readonly threads?: number;
}
export type WorkerRequest = { id: number; feeds: Record<string, TensorData>; fetches?: string[] };
export type WorkerReply =
  | { type: 'ready'; inputs: ModelSession['inputs']; outputs: ModelSession['outputs'] }
  | { type: 'failed'; message: string; code?: string }
  | { type: 'result'; id: number; outputs: Record<string, TensorData> }
  | { type: 'error'; id: number; message: string };

const port = parentPort!;
const init = workerData as WorkerInit;

try {
  const session = await ModelSession.create(init.model, { threads: init.threads, spinning: false });
  port.postMessage({ type: 'ready', inputs: session.inputs, outputs: session.outputs } satisfies WorkerReply);
  port.on('message', (req: WorkerRequest) => {
    session.run(req.feeds, req.fetches).then(
      (outputs) => port.postMessage({ type: 'result', id: req.id, outputs } satisfies WorkerReply, Object.values(outputs).map((t) => t.data.buffer as ArrayBuffer)),
      (e: unknown) => port.postMessage({ type: 'error', id: req.id, message: errorMessage(e) } satisfies WorkerReply),
    );
  });
} catch (e) {
  port.postMessage({ type: 'failed', message: errorMessage(e), code: (e as { code?: string }).code } satisfies WorkerReply);
}
