/**
 * The headers every response carries, set in one place by its content type rather than route by route, so a
 * new HTML route cannot be served without them. The policy is the web UI's needs and no more: its own scripts
 * (no inline script anywhere), WebAssembly compiled by onnxruntime-web (`'wasm-unsafe-eval'`, not `eval`),
 * workers from its own files, images and maps as `data:`/`blob:` URLs, and the autotagger page's one inline
 * stylesheet by hash.
 */
import type { FastifyInstance } from 'fastify';
import { PAGE_STYLE_SOURCE } from './html.ts';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  `style-src 'self' ${PAGE_STYLE_SOURCE}`,
  "img-src 'self' data: blob:",
  // the explain maps arrive as data: URLs and are read back with fetch()
  "connect-src 'self' data:",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const isHtml = (type: unknown) => typeof type === 'string' && /^\s*text\/html\b/i.test(type);

export function securityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', (_request, reply, payload, done) => {
    // a browser must not read an upload or an error as something other than what it is declared as
    reply.header('X-Content-Type-Options', 'nosniff');
    if (isHtml(reply.getHeader('content-type'))) {
      reply.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
      reply.header('X-Frame-Options', 'DENY'); // frame-ancestors for browsers that predate it
      reply.header('Referrer-Policy', 'no-referrer');
    }
    done(null, payload);
  });
}
