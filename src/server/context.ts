/**
 * What a route sees: the tagging service, the settings, and `run()`, which reads a tagging or explain request's
 * body, then holds the request to its place in its queue and its deadline. The place is taken only once the body
 * has arrived, so clients uploading slowly hold no place (and a full server still reads a body before its 503).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { InvariantError } from '../errors.ts';
import { bodyLimits } from './body.ts';
import { HttpError } from './errors.ts';
import type { ResolvedOptions } from './options.ts';
import type { TaggingService } from './tagging.ts';
import { readForm, type Form, type FormOptions } from './uploads.ts';

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
  /** Read the request's form, then run a tagging route's work; rejects with 503 at the deadline or when the client goes away. */
  run<T>(request: FastifyRequest, form: FormOptions, work: (form: Form, signal: AbortSignal) => Promise<T>): Promise<T>;
}

export function createContext(app: FastifyInstance, service: TaggingService, options: ResolvedOptions): RouteContext {
  const running = new WeakMap<FastifyRequest, AbortController>();
  const limits = bodyLimits(options);
  app.addHook('onRequestAbort', (request, done) => {
    running.get(request)?.abort(new HttpError('E_TIMEOUT', 'the client closed the connection'));
    done();
  });

  return {
    service,
    options,
    async run<T>(request: FastifyRequest, formOptions: FormOptions, work: (form: Form, signal: AbortSignal) => Promise<T>): Promise<T> {
      const { tagging, explaining } = request.routeOptions.config;
      if (!tagging && !explaining) throw new InvariantError(`route ${request.routeOptions.url ?? request.url} is not marked as a tagging or explain route`);
      const form = await readForm(request, formOptions, limits);
      const release = tagging ? service.admit() : service.explainer.admit();
      const controller = new AbortController();
      const { signal } = controller;
      const timer = setTimeout(() => {
        controller.abort(new HttpError('E_TIMEOUT', `not answered within the request timeout of ${options.timeoutMs} ms`, tagging ? service.retryAfter() : service.explainer.retryAfter()));
      }, options.timeoutMs);
      running.set(request, controller);
      const working = work(form, signal);
      working.catch(() => undefined); // a deadline may have answered already; the late failure is moot
      try {
        return await new Promise<T>((resolve, reject) => {
          const onAbort = () => reject(signal.reason as Error);
          signal.addEventListener('abort', onAbort, { once: true });
          working.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
        });
      } finally {
        clearTimeout(timer);
        running.delete(request);
        release();
      }
    },
  };
}
