/**
 * Preparation workers on the main-thread side: uploads wait here, and each worker holds at most `PER_WORKER` of
 * them at once, so the images of a request that gave up can still be dropped before they cost a decode. A worker
 * that dies fails only its own images and is replaced.
 */
import { TagbooruError } from '../errors.ts';
import { siblingModule } from '../package.ts';
import type { ModelInput } from '../infer/bundle.ts';
import { WorkerPool } from '../workers/pool.ts';
import type { PrepInit, PrepResponse } from './_prep-worker.ts';

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

export class PrepPool {
  private closing = false;
  private readonly waiting: Job[] = [];

  private constructor(private readonly pool: WorkerPool<Uint8Array, PrepResponse>) {}

  static async start(workers: number, inputs: readonly ModelInput[], maxPixels: number, defence: Pick<PrepInit, 'defence' | 'defenceSeed'> = { defence: null, defenceSeed: null }): Promise<PrepPool> {
    const init: PrepInit = { inputs, maxPixels, ...defence };
    let prep: PrepPool | undefined;
    const pool = await WorkerPool.start<Uint8Array, PrepResponse>(
      { name: 'an image preparation worker', module: MODULE, init, retry: 'a new one is starting: send the image again' },
      { size: workers, respawn: true, onChange: () => prep?.pump() }, // a worker that comes back takes what waits
    );
    return (prep = new PrepPool(pool));
  }

  /** Images waiting for a worker. */
  get depth(): number {
    return this.waiting.length;
  }

  /** Workers started to replace one that died. */
  get respawns(): number {
    return this.pool.respawns;
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
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.pump();
    });
  }

  private pump(): void {
    const broken = this.pool.broken;
    if (broken) return this.failWaiting(broken);
    while (this.waiting.length > 0 && !this.closing && this.pool.leastLoad < PER_WORKER) {
      const job = this.waiting.shift()!;
      // copied, not transferred: an upload may share its memory with others
      this.pool.call(job.data).then(
        (r) => job.settle('rejected' in r ? r.rejected : r),
        (e: unknown) => job.settle(e as Error),
      ).finally(() => this.pump());
    }
  }

  private failWaiting(error: Error): void {
    for (const job of this.waiting.splice(0)) job.settle(error);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.failWaiting(new TagbooruError('E_INTERNAL', 'the server is shutting down'));
    await this.pool.close();
  }
}
