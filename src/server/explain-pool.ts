/**
 * Explaining on the main-thread side: a queue of its own, so heavy explain requests cannot take the places of
 * tagging requests, in front of one explain worker started on the first request (a server that never
 * explains loads no second copy of the model). It decodes one image at a time, so its memory is bounded by
 * `--max-pixels` without a share of the tagging routes' pixel budget. Requests beyond `queueSize` are refused with 503; a request
 * that gives up while waiting leaves the queue; a worker that dies fails only its running image (E_WORKER) and is replaced.
 */
import { Admission } from './admission.ts';
import type { Bundle } from '../infer/bundle.ts';
import { siblingModule } from '../package.ts';
import { WorkerPool } from '../workers/pool.ts';
import type { ExplainInit, ExplainJob, Explained, ExplainRequest } from './_explain-worker.ts';
import { HttpError } from './errors.ts';
import { ServiceTime } from './service-time.ts';
import type { Upload } from './tagging.ts';

const MODULE = siblingModule('./_explain-worker.ts', import.meta.url).href;

export type { Explained };

export interface ExplainPoolOptions {
  readonly model: string | Bundle;
  readonly threads: number;
  readonly maxPixels: number;
  /** Explain requests in flight (waiting, running; counted once the body has arrived); one more is answered 503. */
  readonly queueSize: number;
  /** Called with each finished image's method and seconds, queueing included. */
  readonly onExplained?: (method: string, seconds: number) => void;
  /** A clock in milliseconds; tests give their own. */
  readonly now?: () => number;
}

interface Job {
  readonly request: ExplainRequest;
  readonly settle: (outcome: Explained | Error) => void;
}

export class ExplainPool {
  /** One worker, started by the first image, replaced when it dies. */
  private readonly pool: WorkerPool<ExplainRequest, Explained>;
  private readonly waiting: Job[] = [];
  private running: Job | null = null;
  /** When the running job was handed to the worker. */
  private dispatched = 0;
  private readonly admission = new Admission(() => this.options.queueSize, { requests: 'explain', queue: 'explain queue size' }, () => this.retryAfter());
  private closing = false;
  /** Before any image is explained, assume a second each. */
  private readonly service = new ServiceTime(1);
  private readonly now: () => number;

  constructor(private readonly options: ExplainPoolOptions) {
    this.now = options.now ?? (() => performance.now());
    const init: ExplainInit = { model: options.model, threads: options.threads, maxPixels: options.maxPixels };
    this.pool = new WorkerPool(
      { name: 'the explain worker', module: MODULE, init, retry: 'a new one is starting: send the image again', uncodedStart: 'E_MODEL' },
      { size: 1, respawn: true },
    );
  }

  /** Workers started to replace one that died. */
  get respawns(): number {
    return this.pool.respawns;
  }

  get load(): { queued: number; running: number; inFlight: number } {
    return { queued: this.waiting.length, running: this.running ? 1 : 0, inFlight: this.admission.inFlight };
  }

  /** Claim a place for one explain request, or refuse with 503; call the returned function once when done. */
  admit(): () => void {
    return this.admission.admit();
  }

  /** Every admitted request is one image ahead of the next: reading, waiting or running. */
  retryAfter(): number {
    return this.service.retryAfter(Math.max(this.admission.inFlight, this.waiting.length + (this.running ? 1 : 0)));
  }

  /** One image explained as the job says; an abort while it waits takes it out of the queue. */
  explain(upload: Upload, job: ExplainJob, signal: AbortSignal): Promise<Explained> {
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const request: ExplainRequest = { name: upload.name, data: upload.data, job };
      const started = this.now();
      const onAbort = () => {
        const at = this.waiting.indexOf(entry);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal.reason as Error);
      };
      const entry: Job = {
        request,
        settle: (outcome) => {
          signal.removeEventListener('abort', onAbort);
          if (outcome instanceof Error) return reject(outcome);
          this.options.onExplained?.(job.options.method ?? 'cam', (this.now() - started) / 1000);
          resolve(outcome);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
      this.pump();
    });
  }

  private pump(): void {
    if (this.running || this.waiting.length === 0 || this.closing) return;
    const job = (this.running = this.waiting.shift()!);
    this.pool
      .ready()
      .then(() => {
        this.dispatched = this.now(); // service time starts here, after the queue and the worker's start
        return this.pool.call(job.request); // copied: an upload may share its memory with others
      })
      .then(
        (explained) => this.finish(job, explained),
        (e: unknown) => this.finish(job, e as Error),
      );
  }

  private finish(job: Job, outcome: Explained | Error): void {
    if (this.running !== job) return;
    this.running = null;
    if (!(outcome instanceof Error)) this.service.observe((this.now() - this.dispatched) / 1000);
    job.settle(outcome);
    this.pump();
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const job of this.waiting.splice(0)) job.settle(new HttpError('E_BUSY', 'the server is shutting down'));
    await this.pool.close();
  }
}
