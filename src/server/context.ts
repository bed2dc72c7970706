/**
 * What a route sees: the tagging service, the settings, and `run()`, which holds a tagging or explain request
 * to its place in its queue and its deadline. Admission happens in `onRequest`, before the body is read, so a full
 * server refuses with 503 without buffering the upload.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpError } from './errors.ts';
import type { ResolvedOptions } from './options.ts';
import type { TaggingService } from './tagging.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A tagging route: admitted against the queue size and bounded by the request timeout. */
    tagging?: boolean;
    /** An explain route: admitted against the explain queue's size, bounded by the request timeout. */
    explaining?: boolean;
    /** Needs an API key when the server has any; `'optional'`: answers without one, saying less. */
    auth?: boolean | 'optional';
  }
}

export interface RouteContext {
  readonly service: TaggingService;
  readonly options: ResolvedOptions;
  /** Run a tagging route's work; rejects with 503 at the deadline or when the client goes away. */
  run<T>(request: FastifyRequest, work: (signal: AbortSignal) => Promise<T>): Promise<T>;
}

export function createContext(app: FastifyInstance, service: TaggingService, options: ResolvedOptions): RouteContext {
  const jobs = new WeakMap<FastifyRequest, { controller: AbortController; finish: () => void }>();

  app.addHook('onRequest', (request, _reply, done) => {
    const { tagging, explaining } = request.routeOptions.config;
    if (!tagging && !explaining) return done();
    let release: () => void;
    try {
      release = tagging ? service.admit() : service.explainer.admit();
    } catch (e) {
      return done(e as Error);
    }
    const controller = new AbortController();
    const timer = setTimeout(() => {
      controller.abort(new HttpError('E_TIMEOUT', `not answered within the request timeout of ${options.timeoutMs} ms`, tagging ? service.retryAfter() : service.explainer.retryAfter()));
    }, options.timeoutMs);
    jobs.set(request, { controller, finish: () => (clearTimeout(timer), release()) });
    done();
  });
  app.addHook('onResponse', (request, _reply, done) => {
    jobs.get(request)?.finish();
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    const job = jobs.get(request);
    job?.controller.abort(new HttpError('E_TIMEOUT', 'the client closed the connection'));
    job?.finish();
    done();
  });

  return {
    service,
    options,
    run<T>(request: FastifyRequest, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
      const job = jobs.get(request);
      if (!job) throw new Error(`route ${request.routeOptions.url ?? request.url} is not marked as a tagging or explain route`);
      const { signal } = job.controller;
      const running = work(signal);
      running.catch(() => undefined); // a deadline may have answered already; the late failure is moot
      return new Promise<T>((resolve, reject) => {
        const onAbort = () => reject(signal.reason as Error);
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        running.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
      });
    },
  };
}
