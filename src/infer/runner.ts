/** The main-thread side of inference: one session per worker thread, requests to the least loaded one. */
import { siblingModule } from '../package.ts';
import { WorkerPool } from '../workers/pool.ts';
import type { WorkerInfo, WorkerInit, WorkerRequest, WorkerResponse } from './_worker.ts';
import type { IoSpec, TensorData } from './session.ts';

const MODULE = siblingModule('./_worker.ts', import.meta.url).href;

export interface InferenceWorkerOptions {
  readonly threads?: number;
  /** Worker threads, each with its own session. */
  readonly workers?: number;
  /** Replace a worker that dies; without it, every call after a death fails with E_WORKER. */
  readonly respawn?: boolean;
}

export class InferenceWorker {
  private constructor(
    private readonly pool: WorkerPool<WorkerRequest, WorkerResponse, WorkerInfo>,
    readonly inputs: readonly IoSpec[],
    readonly outputs: readonly IoSpec[],
  ) {}

  static async start(model: string | Uint8Array, options: InferenceWorkerOptions = {}): Promise<InferenceWorker> {
    const init: WorkerInit = { model, threads: options.threads };
    const pool = await WorkerPool.start<WorkerRequest, WorkerResponse, WorkerInfo>(
      {
        name: 'the inference worker',
        module: MODULE,
        init,
        retry: options.respawn ? 'a new one is starting: try again' : 'create a new tagger to retry',
        uncoded: 'E_MODEL',
        uncodedStart: 'E_BUNDLE',
      },
      { size: options.workers ?? 1, respawn: options.respawn ?? false },
    );
    const { inputs, outputs } = pool.info!;
    return new InferenceWorker(pool, inputs, outputs);
  }

  /** Workers started to replace one that died. */
  get respawns(): number {
    return this.pool.respawns;
  }

  /** The feeds' buffers are transferred. */
  run(feeds: Record<string, TensorData>, fetches?: string[]): Promise<Record<string, TensorData>> {
    return this.pool.call({ feeds, fetches }, Object.values(feeds).map((t) => t.data.buffer));
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
