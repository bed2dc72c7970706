/**
 * Explaining on the main-thread side: a queue of its own, so heavy explain requests cannot take the places of
 * tagging requests, in front of one explain worker started on the first request (a server that never
 * explains loads no second copy of the model). It decodes one image at a time, so its memory is bounded by
 * `--max-pixels` without a share of the tagging routes' pixel budget. Requests beyond `queueSize` are refused with 503; a request
 * that gives up while waiting leaves the queue; a worker that dies fails only its running image.
 */
import { Admission } from './admission.ts';
import { Worker } from 'node:worker_threads';
import { TagbooruError, type ErrorCode } from '../errors.ts';
import { WORKER_BOOT, siblingModule } from '../package.ts';
import type { ExplainJson } from '../wire.ts';
import type { ExplainInit, ExplainJob, ExplainReply, ExplainRequest } from './_explain-worker.ts';
import { HttpError } from './errors.ts';
import { ServiceTime } from './service-time.ts';
import type { Upload } from './tagging.ts';

const MODULE = siblingModule('./_explain-worker.ts', import.meta.url).href;

const CODES: readonly ErrorCode[] = ['E_USAGE', 'E_IMAGE', 'E_IO', 'E_MODEL', 'E_BUNDLE', 'E_INTERNAL'];
const asError = (code: string, message: string) => new TagbooruError((CODES as readonly string[]).includes(code) ? (code as ErrorCode) : 'E_INTERNAL', message);

export type Explained = { readonly format: 'json'; readonly body: ExplainJson } | { readonly format: 'png'; readonly png: Uint8Array };

export interface ExplainPoolOptions {
  readonly model: string;
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
  private worker: Promise<Worker> | null = null;
  private readonly waiting: Job[] = [];
  private running: Job | null = null;
  /** When the running job was handed to the worker. */
  private dispatched = 0;
  private readonly admission = new Admission(() => this.options.queueSize, { requests: 'explain', queue: 'explain queue size' }, () => this.retryAfter());
  private nextId = 0;
  private closing = false;
  /** Before any image is explained, assume a second each. */
  private readonly service = new ServiceTime(1);
  private readonly now: () => number;

  constructor(private readonly options: ExplainPoolOptions) {
    this.now = options.now ?? (() => performance.now());
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
      const request: ExplainRequest = { id: this.nextId++, name: upload.name, data: upload.data, job };
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
    this.start().then(
      (worker) => {
        this.dispatched = this.now(); // service time starts here, after the queue and the worker's start
        worker.postMessage(job.request); // copied: an upload may share its memory with others
      },
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

  private start(): Promise<Worker> {
    this.worker ??= new Promise<Worker>((resolve, reject) => {
      const init: ExplainInit = { module: MODULE, model: this.options.model, threads: this.options.threads, maxPixels: this.options.maxPixels };
      const worker = new Worker(WORKER_BOOT, { workerData: init });
      worker.on('message', (m: ExplainReply) => {
        if (m.type === 'ready') return resolve(worker);
        if (m.type === 'failed') {
          void worker.terminate();
          return reject(asError(m.code, `the explain worker did not start: ${m.message}`));
        }
        const job = this.running;
        if (!job || job.request.id !== m.id) return;
        if (m.type === 'error') this.finish(job, asError(m.code, m.message));
        else this.finish(job, m.type === 'json' ? { format: 'json', body: m.body } : { format: 'png', png: m.png });
      });
      worker.once('error', reject);
      worker.once('exit', (code) => {
        this.worker = null; // the next image starts a new one
        reject(new TagbooruError('E_INTERNAL', `the explain worker stopped (exit code ${code})`));
        if (this.running) this.finish(this.running, new TagbooruError('E_INTERNAL', `the explain worker stopped (exit code ${code})`));
      });
    });
    const started = this.worker;
    started.catch(() => {
      if (this.worker === started) this.worker = null; // a failed start is retried by the next request
    });
    return started;
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const job of this.waiting.splice(0)) job.settle(new HttpError('E_BUSY', 'the server is shutting down'));
    const worker = this.worker;
    this.worker = null;
    await worker?.then((w) => w.terminate(), () => undefined);
  }
}
