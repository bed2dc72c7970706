/** The worker thread's side of the protocol: start, say `ready` (or why not), answer each request by its id. */
import { parentPort, workerData } from 'node:worker_threads';
import { toWire, Transfer, type FromWorker, type NextCall, type ToWorker } from './protocol.ts';

export interface Service<Request, Response, Info = undefined> {
  /** Sent with `ready`: what the caller needs to know before its first request (a session's inputs…). */
  readonly info?: Info;
  handle(request: Request): Promise<Response | Transfer<Response>>;
  /** Before the thread exits on a stop: close the service's own workers gracefully (see WorkerClient.close). */
  close?(): Promise<void>;
}

/**
 * Runs the worker: `start` gets the `workerData` the caller passed. With `serial`, requests are answered one
 * after another (a training step must never overlap a checkpoint); otherwise they overlap.
 */
export async function serve<Init, Request, Response, Info = undefined>(
  start: (init: Init) => Service<Request, Response, Info> | Promise<Service<Request, Response, Info>>,
  options: { readonly serial?: boolean } = {},
): Promise<void> {
  const port = parentPort!;
  const post = (message: FromWorker, list: readonly ArrayBuffer[] = []) => port.postMessage(message, list as ArrayBuffer[]);
  let service: Service<Request, Response, Info>;
  try {
    service = await start(workerData as Init);
  } catch (e) {
    return post({ type: 'failed', error: toWire(e) });
  }
  const answer = async (id: number, request: Request) => {
    try {
      const out = await service.handle(request);
      if (out instanceof Transfer) post({ type: 'result', id, value: out.value }, out.list);
      else post({ type: 'result', id, value: out });
    } catch (e) {
      post({ type: 'error', id, error: toWire(e) });
    }
  };
  let queue = Promise.resolve();
  let next: NextCall | undefined;
  port.on('message', (m: ToWorker) => {
    if ('stop' in m) return void Promise.resolve(service.close?.()).finally(() => process.exit(0));
    if ('nextCall' in m) return void (next = m.nextCall);
    if (next === 'hold') return;
    // a death from inside in the middle of a call, as a native crash or an out-of-memory abort ends a thread
    if (next) process.exit(next.exit);
    if (options.serial) queue = queue.then(() => answer(m.id, m.request as Request));
    else void answer(m.id, m.request as Request);
  });
  post({ type: 'ready', info: service.info });
}
