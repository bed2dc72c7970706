/**
 * The web UI (src/web) served by the same process: the page, its stylesheet, its scripts (`/app.js`, and
 * `/probe.js`, which the in-browser mode loads for CAM), and onnxruntime-web's module and wasm from
 * node_modules (no CDN) for the in-browser mode. Compiled, the scripts are read from dist/web, bundled by
 * `npm run build`; from the sources, they are bundled on first request (web-bundle.ts, with esbuild).
 */
import { createReadStream, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { TagbooruError, errorMessage } from '../errors.ts';
import { FROM_SOURCE } from '../package.ts';
import { WEB_SCRIPTS } from './web-bundle.ts';

/** src/web beside the sources, dist/web (the built UI) beside the compiled server. */
const WEB_DIR = fileURLToPath(new URL('../web/', import.meta.url));
const ORT_DIR = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
const ORT_VERSION = (JSON.parse(readFileSync(path.join(ORT_DIR, '..', 'package.json'), 'utf8')) as { version: string }).version;
/** Versioned, so the module and its wasm are cached together and replaced together. */
export const ORT_BASE = `/ort/${ORT_VERSION}/`;
/** The files the browser needs for the WebAssembly backend, nothing else from node_modules. */
const ORT_FILES: Readonly<Record<string, string>> = {
  'ort.wasm.min.mjs': 'text/javascript; charset=utf-8',
  'ort-wasm-simd-threaded.mjs': 'text/javascript; charset=utf-8',
  'ort-wasm-simd-threaded.wasm': 'application/wasm',
};

async function loadScript(file: string): Promise<string> {
  if (!FROM_SOURCE) return readFile(path.join(WEB_DIR, file), 'utf8');
  try {
    // esbuild is a development dependency: imported only here, when running from the sources
    const { bundleWebScript } = await import('./web-bundle.ts');
    return await bundleWebScript(WEB_DIR, WEB_SCRIPTS[file]!, { sourceMap: true });
  } catch (e) {
    throw new TagbooruError('E_INTERNAL', `cannot bundle the web UI (${file} from ${WEB_SCRIPTS[file]}): ${errorMessage(e)}`, { cause: e });
  }
}

export function webRoutes(app: FastifyInstance): void {
  const scripts = new Map<string, Promise<string>>();
  const html = readFile(path.join(WEB_DIR, 'index.html'), 'utf8').then((t) => t.replaceAll('%ORT_BASE%', ORT_BASE));
  const css = readFile(path.join(WEB_DIR, 'style.css'), 'utf8');
  html.catch(() => undefined);
  css.catch(() => undefined);

  app.get('/', async (_request, reply) => reply
    .type('text/html; charset=utf-8')
    .header('Cache-Control', 'no-cache')
    // cross-origin isolation gives the page SharedArrayBuffer, so onnxruntime-web can use threads
    .header('Cross-Origin-Opener-Policy', 'same-origin')
    .header('Cross-Origin-Embedder-Policy', 'require-corp')
    .send(await html));
  app.get('/app.css', async (_request, reply) => reply.type('text/css; charset=utf-8').header('Cache-Control', 'no-cache').send(await css));
  for (const file of Object.keys(WEB_SCRIPTS)) {
    app.get(`/${file}`, async (_request, reply) => {
      let script = scripts.get(file);
      if (!script) {
        scripts.set(file, (script = loadScript(file)));
        script.catch(() => scripts.delete(file)); // a failed build is retried on the next request
      }
      return reply.type('text/javascript; charset=utf-8').header('Cache-Control', 'no-cache').send(await script);
    });
  }
  app.get<{ Params: { file: string } }>(`${ORT_BASE}:file`, async (request, reply) => {
    const type = Object.hasOwn(ORT_FILES, request.params.file) ? ORT_FILES[request.params.file] : undefined;
    if (!type) return reply.callNotFound();
    return reply
      .type(type)
      .header('Cache-Control', 'public, max-age=31536000, immutable')
      // the threaded runtime starts workers from these files; a worker is isolated only if its script says so
      .header('Cross-Origin-Embedder-Policy', 'require-corp')
      .header('Cross-Origin-Resource-Policy', 'same-origin')
      .send(createReadStream(path.join(ORT_DIR, request.params.file)));
  });
}
