/**
 * Preparation workers on the main-thread side: each upload goes to the least busy worker and comes back as a
 * tensor or as the reason it is not an image. A worker that dies fails only its own images and is replaced.
 */
import { Worker } from 'node:worker_threads';
import { TagbooruError } from '../errors.ts';
import type { PreprocessSpec } from '../index.ts';
import type { PrepInit, PrepReply, PrepRequest } from './_prep-worker.ts';

// the inference worker's boot file: registers tsx in the thread, then imports workerData.module
const BOOT = new URL('../infer/worker-boot.js', import.meta.url);
const MODULE = new URL('./_prep-worker.ts', import.meta.url).href;

/** An upload as the network's input, and the media type its bytes were decoded as. */
export interface Prepared {
  readonly tensor: Float32Array;
  readonly mediaType: string;
}

interface Slot {
  readonly worker: Worker;
  readonly jobs: Map<number, (outcome: Prepared | string | Error) => void>;
  alive: boolean;
}

export class PrepPool {
  private nextId = 0;
  private closing = false;

  private constructor(
    private readonly slots: Slot[],
    private readonly init: PrepInit,
  ) {}

  static async start(workers: number, spec: PreprocessSpec, maxPixels: number): Promise<PrepPool> {
    const init: PrepInit = { module: MODULE, spec, maxPixels };
    const slots = await Promise.all(Array.from({ length: workers }, () => spawn(init)));
    const pool = new PrepPool([], init);
    for (const worker of slots) pool.adopt(worker);
    return pool;
  }

  private adopt(worker: Worker, at = this.slots.length): void {
    const slot: Slot = { worker, jobs: new Map(), alive: true };
    this.slots[at] = slot;
    worker.on('message', (m: PrepReply) => {
      if (m.type === 'ready') return;
      const settle = slot.jobs.get(m.id);
      slot.jobs.delete(m.id);
      settle?.(m.type === 'tensor' ? { tensor: m.tensor, mediaType: m.mediaType } : m.reason);
    });
    worker.once('exit', (code) => {
      slot.alive = false;
      for (const settle of slot.jobs.values()) settle(new TagbooruError('E_INTERNAL', `an image preparation worker stopped (exit code ${code})`));
      slot.jobs.clear();
      if (!this.closing) void spawn(this.init).then((w) => (this.closing ? void w.terminate() : this.adopt(w, at)), () => undefined);
    });
  }

  /** The image's input tensor and media type, or a string saying why it is not an image (not a recognised format, too many pixels…). */
  prepare(data: Uint8Array): Promise<Prepared | string> {
    const live = this.slots.filter((x) => x.alive);
    if (live.length === 0) return Promise.reject(new TagbooruError('E_INTERNAL', 'no image preparation worker is running'));
    const slot = live.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      slot.jobs.set(id, (outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome)));
      slot.worker.postMessage({ id, data } satisfies PrepRequest); // copied: an upload may share its memory with others
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

function spawn(init: PrepInit): Promise<Worker> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(BOOT, { workerData: init });
    worker.once('error', reject);
    worker.once('message', (m: PrepReply) => {
      worker.off('error', reject);
      if (m.type === 'ready') resolve(worker);
      else reject(new TagbooruError('E_INTERNAL', 'an image preparation worker did not start'));
    });
  });
}
