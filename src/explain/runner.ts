/** The main-thread side of the explain worker: started on the first explain call, answers in order. */
import { Worker } from 'node:worker_threads';
import { TagbooruError, type ErrorCode } from '../errors.ts';
import { WORKER_BOOT, siblingModule } from '../package.ts';
import type { Bundle } from '../infer/bundle.ts';
import type { TensorData } from '../infer/session.ts';
import type { ExplainReply, ExplainRequest, ExplainWorkerInit } from './_worker.ts';
import type { VariantInfo, VariantKind, VariantName } from './variants.ts';

const MODULE = siblingModule('./_worker.ts', import.meta.url).href;

type Pending = { resolve: (r: ExplainReply & { ok: true }) => void; reject: (e: Error) => void };
type Request = ExplainRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

export class ExplainWorker {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly infos = new Map<VariantName, Promise<VariantInfo>>();
  private readonly worker: Worker;

  constructor(bundle: Bundle, options: { threads?: number } = {}) {
    const init: ExplainWorkerInit = { module: MODULE, bundle, threads: options.threads };
    this.worker = new Worker(WORKER_BOOT, { workerData: init });
    this.worker.on('message', (m: ExplainReply) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.ok) p?.resolve(m);
      else p?.reject(new TagbooruError((m.code as ErrorCode | undefined) ?? 'E_MODEL', m.message));
    });
    const failAll = (e: Error) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', failAll);
    this.worker.on('exit', () => failAll(new TagbooruError('E_INTERNAL', 'the explain worker exited')));
  }

  private request(req: Request, transfer: ArrayBuffer[] = []): Promise<ExplainReply & { ok: true }> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }

  /** The variant's names and layout, building it if needed (asked once: a variant never changes). */
  async describe<V extends VariantName>(variant: V): Promise<Extract<VariantInfo, { variant: VariantKind<V> }>> {
    let info = this.infos.get(variant);
    if (!info) {
      info = this.request({ op: 'describe', variant }).then((reply) => (reply as { info: VariantInfo }).info);
      this.infos.set(variant, info);
    }
    return (await info) as Extract<VariantInfo, { variant: VariantKind<V> }>;
  }

  /** Run a variant; the feeds' buffers are transferred. */
  async run(variant: VariantName, feeds: Record<string, TensorData>, fetches: string[]): Promise<Record<string, TensorData>> {
    const reply = await this.request({ op: 'run', variant, feeds, fetches }, Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer));
    return (reply as { outputs: Record<string, TensorData> }).outputs;
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
