/**
 * The caller's side of one worker thread: a start handshake, requests by id with their transfer lists, coded
 * errors back, and a death (a crash, running out of memory, `terminate()`) that rejects every pending and every
 * later call with `E_WORKER` instead of leaving them waiting.
 */
import { Worker } from 'node:worker_threads';
import { TagbooruError, errorMessage, isErrorCode, type ErrorCode } from '../errors.ts';
import { WORKER_BOOT } from '../package.ts';
import { fromWire, type FromWorker, type ToWorker } from './protocol.ts';

export interface WorkerSpec {
  /** What a caller is told has died: `the inference worker`. */
  readonly name: string;
  /** The worker module's URL, from `siblingModule`. */
  readonly module: string;
  /** What the worker's `serve(start)` receives. */
  readonly init?: object;
  /** How a caller gets going again after a death, as E_WORKER messages end: `create a new tagger to retry`. */
  readonly retry: string;
  /** The code of a failed request whose error carries none. */
  readonly uncoded?: ErrorCode;
  /** The code of a failed start whose error carries none. */
  readonly uncodedStart?: ErrorCode;
}

interface Pending {
  readonly resolve: (value: never) => void;
  readonly reject: (error: Error) => void;
}

/** How long `close()` waits for a thread to stop by itself: a long native run, an ONNX session's release. */
const CLOSE_GRACE_MS = 10_000;

const running = new Set<WorkerClient<unknown, unknown, unknown>>();

/** Every worker thread started and not yet dead, oldest first: for tests that kill one mid-call, and diagnostics. */
export function liveWorkers(): readonly WorkerClient<unknown, unknown, unknown>[] {
  return [...running];
}

const workerError = (spec: WorkerSpec, what: string, cause?: unknown) =>
  new TagbooruError('E_WORKER', `${spec.name} ${what}; ${spec.retry}`, cause === undefined ? undefined : { cause });

const exitText = (code: number, crash: unknown) => `exit code ${code}${crash === undefined ? '' : `: ${errorMessage(crash)}`}`;

export class WorkerClient<Request, Response, Info = undefined> {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private death: TagbooruError | null = null;
  /** The uncaught error a dying thread reported, if any: it becomes the death's cause. */
  private crash: unknown = undefined;
  private closing = false;
  private readonly onDeath: ((error: TagbooruError) => void)[] = [];

  private constructor(
    readonly spec: WorkerSpec,
    /** The thread itself: tests terminate it behind the client's back, as something outside would. */
    readonly thread: Worker,
    /** What the worker said when it became ready. */
    readonly info: Info,
  ) {
    thread.on('message', (m: FromWorker) => {
      if (m.type !== 'result' && m.type !== 'error') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'result') p.resolve(m.value as never);
      else p.reject(fromWire(m.error, spec.uncoded ?? 'E_INTERNAL'));
    });
    thread.on('error', (e) => (this.crash ??= e));
    thread.once('exit', (code) => this.die(code));
    running.add(this);
  }

  /** A started worker, once it says it is ready; its own coded error if it says why not; E_WORKER if it dies first. */
  static start<Request, Response, Info = undefined>(spec: WorkerSpec): Promise<WorkerClient<Request, Response, Info>> {
    const worker = new Worker(WORKER_BOOT, { workerData: { ...spec.init, module: spec.module } });
    return new Promise((resolve, reject) => {
      let crash: unknown;
      const onError = (e: Error) => (crash ??= e);
      const onExit = (code: number) => {
        const { code: own } = (crash ?? {}) as { code?: unknown };
        // a module that throws as it loads (a missing native library) keeps the code it gave itself
        reject(isErrorCode(own) ? new TagbooruError(own, errorMessage(crash)) : new TagbooruError('E_WORKER', `${spec.name} stopped while starting (${exitText(code, crash)})`, { cause: crash }));
      };
      const onMessage = (m: FromWorker) => {
        if (m.type !== 'ready' && m.type !== 'failed') return;
        worker.off('error', onError).off('exit', onExit).off('message', onMessage);
        if (m.type === 'ready') return resolve(new WorkerClient<Request, Response, Info>(spec, worker, m.info as Info));
        void worker.terminate();
        reject(fromWire(m.error, spec.uncodedStart ?? 'E_INTERNAL'));
      };
      worker.on('error', onError).on('exit', onExit).on('message', onMessage);
    });
  }

  /** Requests sent and not yet answered. */
  get load(): number {
    return this.pending.size;
  }

  get alive(): boolean {
    return this.death === null;
  }

  /** Called once when the thread ends, after every pending call has been rejected. */
  whenDead(listener: (error: TagbooruError) => void): void {
    if (this.death) listener(this.death);
    else this.onDeath.push(listener);
  }

  /** The worker's answer; `transfer`'s buffers move to the worker (they are unusable here afterwards). */
  call(request: Request, transfer: readonly ArrayBufferLike[] = []): Promise<Response> {
    if (this.death) return Promise.reject(this.death);
    const id = this.nextId++;
    return new Promise<Response>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.thread.postMessage({ id, request } satisfies ToWorker, transfer as ArrayBuffer[]);
      } catch (e) {
        this.pending.delete(id); // an uncloneable request never reached the worker
        reject(new TagbooruError('E_INTERNAL', `cannot send a request to ${this.spec.name}: ${errorMessage(e)}`, { cause: e }));
      }
    });
  }

  /** For tests: the thread calls `process.exit(code)` when its next request arrives, as a crash inside that call would end it. */
  exitInNextCall(code = 1): void {
    this.thread.postMessage({ id: -1, nextCall: { exit: code } } satisfies ToWorker);
  }

  /**
   * For tests: the thread keeps its next requests without running them, so a test can `terminate()` it in the
   * middle of a call. (Terminating a thread inside ONNX Runtime's native `run` aborts the whole process.)
   */
  holdNextCall(): void {
    this.thread.postMessage({ id: -1, nextCall: 'hold' } satisfies ToWorker);
  }

  /**
   * Stops the thread once what it runs now returns (a stop message, not `terminate()`: terminating a thread
   * inside ONNX Runtime's native `run` aborts the whole process); calls still pending reject with E_WORKER.
   * A thread that has not stopped within CLOSE_GRACE_MS is terminated.
   */
  async close(): Promise<void> {
    this.closing = true;
    if (this.death) return;
    const exited = new Promise((resolve) => this.thread.once('exit', resolve));
    this.thread.postMessage({ id: -1, stop: true } satisfies ToWorker);
    const late = setTimeout(() => void this.thread.terminate(), CLOSE_GRACE_MS);
    await exited;
    clearTimeout(late);
  }

  private die(code: number): void {
    const unanswered = this.pending.size;
    this.death = this.closing
      ? workerError(this.spec, 'was closed')
      : workerError(this.spec, `stopped (${exitText(code, this.crash)}) with ${unanswered} request${unanswered === 1 ? '' : 's'} unanswered`, this.crash);
    running.delete(this);
    for (const p of this.pending.values()) p.reject(this.death);
    this.pending.clear();
    for (const listener of this.onDeath.splice(0)) listener(this.death);
  }
}
