/** Render workers on the main-thread side: requests spread over the workers, answers as promises. */
import { Worker } from 'node:worker_threads';
import { TagbooruError } from '../../errors.ts';
import { WORKER_BOOT, siblingModule } from '../../package.ts';
import type { WorkerReply, WorkerRequest } from './_worker.ts';
import type { ProduceRequest, ProducedImage } from './produce.ts';

const MODULE = siblingModule('./_worker.ts', import.meta.url).href;

interface Slot {
  worker: Worker;
  busy: number;
}

export class RenderPool {
  private nextId = 0;
  private readonly pending = new Map<number, { slot: Slot; resolve: (i: ProducedImage) => void; reject: (e: Error) => void }>();

  private constructor(private readonly slots: Slot[]) {
    for (const slot of slots) {
      slot.worker.on('message', (m: WorkerReply) => {
        if (m.type === 'ready') return;
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (!p) return;
        p.slot.busy--;
        if (m.type === 'result') p.resolve(m.image);
        else p.reject(new TagbooruError('E_INTERNAL', `rendering failed: ${m.message}`));
      });
      slot.worker.on('error', (e) => this.failAll(e));
      slot.worker.on('exit', () => this.failAll(new TagbooruError('E_INTERNAL', 'a render worker exited')));
    }
  }

  static async start(workers: number): Promise<RenderPool> {
    const slots = await Promise.all(
      Array.from({ length: workers }, () =>
        new Promise<Slot>((resolve, reject) => {
          const worker = new Worker(WORKER_BOOT, { workerData: { module: MODULE } });
          worker.once('error', reject);
          worker.once('message', (m: WorkerReply) => {
            worker.off('error', reject);
            if (m.type === 'ready') resolve({ worker, busy: 0 });
            else reject(new TagbooruError('E_INTERNAL', 'a render worker did not start'));
          });
        }),
      ),
    );
    return new RenderPool(slots);
  }

  /** Sent to the least busy worker. */
  produce(request: ProduceRequest): Promise<ProducedImage> {
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    slot.busy++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { slot, resolve, reject });
      slot.worker.postMessage({ id, ...request } satisfies WorkerRequest);
    });
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
