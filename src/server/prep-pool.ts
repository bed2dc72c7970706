/**
 * Preparation workers on the main-thread side: uploads wait here, and each worker holds at most `PER_WORKER` of
 * them at once, so the images of a request that gave up can still be dropped before they cost a decode. A worker
 * that dies fails only its own images and is replaced.
 */
import { Worker } from 'node:worker_threads';
import { TagbooruError } from '../errors.ts';
import { WORKER_BOOT, siblingModule } from '../package.ts';
import type { PreprocessSpec } from '../index.ts';
import type { PrepInit, PrepReply, PrepRequest } from './_prep-worker.ts';

const MODULE = siblingModule('./_prep-worker.ts', import.meta.url).href;
// One image's JavaScript resize overlaps others' decodes, which run on libuv's pool (4 threads by default):
// more than that in a worker would only queue there, where they can no longer be dropped.
const PER_WORKER = 4;

type Outcome = Prepared | string | Error;

interface Job {
  readonly data: Uint8Array;
  readonly settle: (outcome: Outcome) => void;
}

/** An upload as the network's input, and the media type its bytes were decoded as. */
export interface Prepared {
  readonly tensor: Float32Array;
  readonly mediaType: string;
}

interface Slot {
  readonly worker: Worker;
  readonly jobs: Map<number, Job>;
  alive: boolean;
}

export class PrepPool {
  private nextId = 0;
  private closing = false;
  private readonly waiting: Job[] = [];

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

  /** Images waiting for a worker. */
  get depth(): number {
    return this.waiting.length;
  }

  private adopt(worker: Worker, at = this.slots.length): void {
    const slot: Slot = { worker, jobs: new Map(), alive: true };
    this.slots[at] = slot;
    worker.on('message', (m: PrepReply) => {
      if (m.type === 'ready') return;
      const job = slot.jobs.get(m.id);
      slot.jobs.delete(m.id);
      job?.settle(m.type === 'tensor' ? { tensor: m.tensor, mediaType: m.mediaType } : m.reason);
      this.pump();
    });
    worker.once('exit', (code) => {
      slot.alive = false;
      const stopped = new TagbooruError('E_INTERNAL', `an image preparation worker stopped (exit code ${code})`);
      for (const job of slot.jobs.values()) job.settle(stopped);
      slot.jobs.clear();
      if (this.closing) return;
      void spawn(this.init).then(
        (w) => (this.closing ? void w.terminate() : (this.adopt(w, at), this.pump())),
        () => this.slots.some((s) => s.alive) || this.failWaiting(new TagbooruError('E_INTERNAL', 'no image preparation worker is running')),
      );
    });
  }

  /**
   * Each upload's input tensor and decoded media type, or a string saying why it is not an image (not a recognised format, too many
   * pixels…). `onSettled(i)` is called once per upload when a worker is done with it or it is dropped unstarted;
   * an abort drops this call's waiting uploads and rejects with the signal's reason.
   */
  prepare(uploads: readonly Uint8Array[], signal: AbortSignal, onSettled: (index: number) => void = () => undefined): Promise<(Prepared | string)[]> {
    if (uploads.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const results: (Prepared | string)[] = [];
      let left = uploads.length;
      const jobs = uploads.map((data, i): Job => ({
        data,
        settle: (outcome) => {
          onSettled(i);
          if (outcome instanceof Error) {
            signal.removeEventListener('abort', onAbort);
            return reject(outcome);
          }
          results[i] = outcome;
          if (--left > 0) return;
          signal.removeEventListener('abort', onAbort);
          resolve(results);
        },
      }));
      // one listener for the whole call: a listener per image trips Node's MaxListeners warning past ten
      const onAbort = () => {
        for (const job of jobs) {
          const at = this.waiting.indexOf(job);
          if (at >= 0) this.waiting.splice(at, 1)[0]!.settle(signal.reason as Error);
        }
      };
      this.waiting.push(...jobs);
      if (!this.slots.some((s) => s.alive)) return this.failWaiting(new TagbooruError('E_INTERNAL', 'no image preparation worker is running'));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.pump();
    });
  }

  private pump(): void {
    while (this.waiting.length > 0 && !this.closing) {
      const free = this.slots.filter((s) => s.alive && s.jobs.size < PER_WORKER);
      if (free.length === 0) return;
      const slot = free.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
      const job = this.waiting.shift()!;
      const id = this.nextId++;
      slot.jobs.set(id, job);
      slot.worker.postMessage({ id, data: job.data } satisfies PrepRequest); // copied: an upload may share its memory with others
    }
  }

  private failWaiting(error: Error): void {
    for (const job of this.waiting.splice(0)) job.settle(error);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.failWaiting(new TagbooruError('E_INTERNAL', 'the server is shutting down'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

function spawn(init: PrepInit): Promise<Worker> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_BOOT, { workerData: init });
    worker.once('error', reject);
    worker.once('message', (m: PrepReply) => {
      worker.off('error', reject);
      if (m.type === 'ready') resolve(worker);
      else reject(new TagbooruError('E_INTERNAL', 'an image preparation worker did not start'));
    });
  });
}
