/**
 * The server as a function: `buildApp(options)` gives a Fastify instance to `inject()` requests into; only
 * `tagbooru serve` binds a port. Routes: danbooru/autotagger's `POST /evaluate`, the JSON API under `/v1`,
 * `POST /v1/explain`, `/healthz`, `/metrics`, and the web UI at `/`.
 */
import type { IncomingMessage } from 'node:http';
import cors from '@fastify/cors';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { apiRoutes, describeModel } from './api.ts';
import { apiKeys } from './auth.ts';
import { autotaggerRoutes, wantsHtml } from './autotagger.ts';
import { answerClientError, bodyLimits, readRawBody } from './body.ts';
import { createContext } from './context.ts';
import { explainRoutes } from './explain.ts';
import { HttpError, toHttpFailure } from './errors.ts';
import { errorPage } from './html.ts';
import { resolveOptions, type ResolvedOptions, type ServerOptions } from './options.ts';
import { securityHeaders } from './security-headers.ts';
import { TaggingService } from './tagging.ts';
import { webRoutes } from './web.ts';

export type { ServerOptions } from './options.ts';

export async function buildApp(options: ServerOptions): Promise<FastifyInstance> {
  const o = resolveOptions(options);
  const service = await TaggingService.start(o);
  try {
    return await assemble(o, service);
  } catch (e) {
    await service.close(); // the workers would otherwise outlive a failed start
    throw e;
  }
}

async function assemble(o: ResolvedOptions, service: TaggingService): Promise<FastifyInstance> {
  const app = Fastify({
    logger: o.log ? { level: 'info', stream: o.log } : false,
    bodyLimit: o.maxUploadBytes,
    // Node's own cut-off, behind the body timeout of the routes that take bodies: headers trickled in, say
    requestTimeout: o.bodyTimeoutMs + 10_000,
    clientErrorHandler: answerClientError,
  });
  app.addHook('onClose', () => service.close());

  observe(app, service);
  securityHeaders(app);
  if (o.cors !== false) {
    await app.register(cors, {
      origin: o.cors === true ? '*' : [...o.cors],
      methods: ['GET', 'POST'],
      allowedHeaders: ['Authorization', 'X-API-Key', 'Content-Type'],
      exposedHeaders: ['Retry-After'],
    });
  }
  const hasKey = apiKeys(app, o.apiKeys); // after CORS, so a 401 still carries its headers
  await app.register(multipart, {
    limits: { fileSize: o.maxUploadBytes, files: o.maxFiles, fields: 64, fieldSize: 64 * 1024, parts: o.maxFiles + 64, headerPairs: 100 },
  });
  // `curl --data-binary @x.png -H 'Content-Type: image/png' /v1/tag`: one image as the whole body
  const { raw, timeoutMs } = bodyLimits(o);
  for (const type of ['application/octet-stream', /^image\//]) {
    app.addContentTypeParser(type, (request: FastifyRequest, payload: IncomingMessage) => readRawBody(payload, request.headers, raw, timeoutMs));
  }

  const ctx = createContext(app, service, o);
  autotaggerRoutes(app, ctx);
  await apiRoutes(app, ctx);
  explainRoutes(app, ctx);
  // liveness for anyone (a load balancer's probe has no key); the model and the load only for key holders
  app.get('/healthz', { config: { auth: 'optional' } }, (request, reply) => reply.send(
    hasKey(request) ? { status: 'ok', model: describeModel(ctx).name, ...service.load, explain: service.explainer.load } : { status: 'ok' },
  ));
  // request counts by route and status are the operator's: a Prometheus scraper sends the key as a bearer token
  app.get('/metrics', { config: { auth: true } }, (_request, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(service.metrics.render()));
  if (o.ui) webRoutes(app);

  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  app.setNotFoundHandler((request, reply) => sendError(new HttpError('E_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`), request, reply));
  return app;
}

function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  const failure = toHttpFailure(error);
  if (failure.status >= 500 && failure.code !== 'E_BUSY' && failure.code !== 'E_TIMEOUT') request.log.error({ err: error }, failure.message);
  if (failure.retryAfter !== undefined) reply.header('Retry-After', String(failure.retryAfter));
  if (failure.code === 'E_AUTH') reply.header('WWW-Authenticate', 'Bearer realm="tagbooru"');
  // answered before the body has all arrived (too large, too slow): reading the rest would serve the client, not us
  if (request.raw.complete === false) reply.header('Connection', 'close');
  reply.code(failure.status);
  if (request.routeOptions.url === '/evaluate' && wantsHtml(request)) return reply.type('text/html; charset=utf-8').send(errorPage(failure.code, failure.message));
  return reply.send({ error: failure.code, message: failure.message });
}

/** Request counts and latency by route template (not raw URL, so the label set stays small). */
function observe(app: FastifyInstance, service: TaggingService): void {
  const started = new WeakMap<FastifyRequest, number>();
  app.addHook('onRequest', (request, _reply, done) => {
    started.set(request, performance.now());
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    service.metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    service.metrics.latency.observe((performance.now() - (started.get(request) ?? performance.now())) / 1000, { route });
    done();
  });
}
