/** The main-thread side of an inference worker: one session, requests answered in order. */
import { Worker } from 'node:worker_threads';
import { TagbooruError, type ErrorCode } from '../errors.ts';
import { WORKER_BOOT, siblingModule } from '../package.ts';
import type { WorkerInit, WorkerReply, WorkerRequest } from './_worker.ts';
import type { IoSpec, TensorData } from './session.ts';

const MODULE = siblingModule('./_worker.ts', import.meta.url).href;

export class InferenceWorker {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (o: Record<string, TensorData>) => void; reject: (e: Error) => void }>();
  private readonly inFlight = new Set<Promise<unknown>>();

  private constructor(
    private readonly worker: Worker,
    readonly inputs: readonly IoSpec[],
    readonly outputs: readonly IoSpec[],
  ) {
    worker.on('message', (m: WorkerReply) => {
      if (m.type !== 'result' && m.type !== 'error') return;
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.type === 'result') p?.resolve(m.outputs);
      else p?.reject(new TagbooruError('E_MODEL', `inference failed: ${m.message}`));
    });
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', () => this.failAll(new TagbooruError('E_INTERNAL', 'the inference worker exited')));
  }

  static start(model: string | Uint8Array, options: { threads?: number } = {}): Promise<InferenceWorker> {
    const init: WorkerInit = { module: MODULE, model, threads: options.threads };
    const worker = new Worker(WORKER_BOOT, { workerData: init });
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      worker.once('error', onError);
      worker.once('message', (m: WorkerReply) => {
        worker.off('error', onError);
        if (m.type === 'ready') resolve(new InferenceWorker(worker, m.inputs, m.outputs));
        else {
          void worker.terminate();
          const code = (m.type === 'failed' ? m.code : undefined) as ErrorCode | undefined;
          reject(new TagbooruError(code ?? 'E_BUNDLE', m.type === 'failed' ? m.message : 'the inference worker did not start'));
        }
      });
    });
  }

  run(feeds: Record<string, TensorData>, fetches?: string[]): Promise<Record<string, TensorData>> {
    const id = this.nextId++;
    const result = new Promise<Record<string, TensorData>>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const transfer = Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer);
      this.worker.postMessage({ id, feeds, fetches } satisfies WorkerRequest, transfer);
    });
    const settled = result.then(() => undefined, () => undefined).finally(() => this.inFlight.delete(settled));
    this.inFlight.add(settled);
    return result;
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  async close(): Promise<void> {
    // NOTE: terminating the thread while ORT runs aborts the whole process (its callback throws a Napi::Error
    // into a torn-down environment, and that is std::terminate): a caller that stops early, as `tag | head`
    // does, closes with a batch still in the worker, so the runs in flight finish first
    await Promise.all(this.inFlight);
    await this.worker.terminate();
  }
}
