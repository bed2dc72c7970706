/** Runs one ONNX session off the main thread: the event loop keeps decoding while the model computes. */
import { serve } from '../workers/serve.ts';
import { transfer } from '../workers/protocol.ts';
import { ModelSession, type IoSpec, type TensorData } from './session.ts';

export interface WorkerInit {
  readonly model: string | Uint8Array;
  readonly threads?: number;
}
export type WorkerRequest = { feeds: Record<string, TensorData>; fetches?: string[] };
export type WorkerResponse = Record<string, TensorData>;
export type WorkerInfo = { inputs: readonly IoSpec[]; outputs: readonly IoSpec[] };

await serve<WorkerInit, WorkerRequest, WorkerResponse, WorkerInfo>(async (init) => {
  const session = await ModelSession.create(init.model, { threads: init.threads, spinning: false });
  return {
    info: { inputs: session.inputs, outputs: session.outputs },
    handle: async (req) => {
      const outputs = await session.run(req.feeds, req.fetches);
      return transfer(outputs, Object.values(outputs).map((t) => t.data.buffer));
    },
  };
});
