/**
 * API keys: `Authorization: Bearer <key>`, `X-API-Key: <key>`, or Basic auth with the key as password, compared
 * in constant time. A route with `auth: true` refuses a request without a valid key; one with `auth: 'optional'`
 * answers it, and asks `hasKey()` how much to say. A wrong key is refused everywhere it is looked at.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpError } from './errors.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

function presented(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string') return header;
  const auth = request.headers.authorization ?? '';
  if (/^bearer /i.test(auth)) return auth.slice(7).trim();
  if (/^basic /i.test(auth)) return Buffer.from(auth.slice(6), 'base64').toString().split(':').slice(1).join(':');
  return undefined;
}

/** Installs the check; the function returned tells whether a request showed a valid key (all do when there are no keys). */
export function apiKeys(app: FastifyInstance, keys: readonly string[]): (request: FastifyRequest) => boolean {
  if (keys.length === 0) return () => true;
  const wanted = keys.map(digest);
  const keyed = new WeakSet<FastifyRequest>();
  app.addHook('onRequest', (request, _reply, done) => {
    const { auth } = request.routeOptions.config;
    if (!auth) return done();
    const key = presented(request);
    if (key !== undefined && wanted.some((w) => timingSafeEqual(w, digest(key)))) {
      keyed.add(request);
      return done();
    }
    if (key === undefined && auth === 'optional') return done();
    done(new HttpError('E_AUTH', key === undefined ? 'an API key is required (Authorization: Bearer <key> or X-API-Key)' : 'the API key is not valid'));
  });
  return (request) => keyed.has(request);
}
