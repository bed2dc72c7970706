import { TagbooruError } from '../../errors.ts';
import { defineCommand, listOption, numberOption } from '../command.ts';
import { resolveModel } from '../model-option.ts';
import { findStoredModel, listModelNames } from '../../import/store.ts';
import { SERVER_DEFAULTS } from '../../server/options.ts';
import { DEFENCE_OPTIONS, readDefenceOptions } from '../defence-option.ts';
import { ttaInMemory } from '../../compose/bundles.ts';
import { TTA_HELP, UNFITTED_TILES_NOTE, parseTta } from '../../compose/tta.ts';
import { readBundle } from '../../infer/bundle.ts';

const storedModelDirs = (env: NodeJS.ProcessEnv) => listModelNames(env).flatMap((name) => findStoredModel(name, env) ?? []);
const HOST = '127.0.0.1', PORT = 5000;
/** The flags show the library's defaults, in the flags' units. */
const D = SERVER_DEFAULTS, MiB = 2 ** 20;
const shown = (x: number) => String(x);
/** A flag in seconds or MiB to the library's milliseconds or bytes; absent stays absent. */
const scaled = (x: number | undefined, k: number) => (x === undefined ? undefined : Math.round(x * k));

export const serveCommand = defineCommand({
  name: 'serve',
  usage: `serve [--model <bundle>] [--host ${HOST}] [--port ${PORT}] [options]`,
  options: {
    model: { type: 'string', short: 'm', placeholder: 'bundle', description: 'model bundle folder (default: the bundled model)' },
    tta: { type: 'string', placeholder: TTA_HELP.placeholder, description: `test-time augmentation of --model built in memory, as tag --tta: ${TTA_HELP.views}` },
    'browser-model': { type: 'string', multiple: true, placeholder: 'name|bundle', description: 'also offer this model to the web UI\'s model picker, to run in the browser (repeatable; the server tags with --model only)' },
    'browser-store': { type: 'boolean', description: 'offer every model in the store (`tagbooru models`) to the web UI\'s model picker' },
    host: { type: 'string', placeholder: 'address', description: 'address to listen on (0.0.0.0 for every interface)', default: HOST },
    port: { type: 'string', short: 'p', placeholder: 'n', description: 'port (0 picks a free one)', default: shown(PORT) },
    workers: { type: 'string', placeholder: 'n', description: 'inference workers, each with its own session', default: shown(D.workers) },
    threads: { type: 'string', placeholder: 'n', description: 'ONNX Runtime threads per worker (default: cores / workers)' },
    'prep-workers': { type: 'string', placeholder: 'n', description: 'workers that decode and resize uploads (default: one per core)' },
    'max-batch': { type: 'string', placeholder: 'n', description: 'most images in one inference call', default: shown(D.maxBatch) },
    queue: { type: 'string', placeholder: 'n', description: 'tagging requests in flight (once their bodies have arrived) before answering 503', default: shown(D.queueSize) },
    timeout: { type: 'string', placeholder: 'seconds', description: 'answer 503 to a tagging request not done by then, counted from its body\'s arrival', default: shown(D.timeoutMs / 1000) },
    'body-timeout': { type: 'string', placeholder: 'seconds', description: 'answer 408 and close the connection when a request body takes longer', default: shown(D.bodyTimeoutMs / 1000) },
    'max-upload': { type: 'string', placeholder: 'MiB', description: 'largest uploaded file (413 above)', default: shown(D.maxUploadBytes / MiB) },
    'max-request': { type: 'string', placeholder: 'MiB', description: 'largest request body, all files and fields together (413 above)', default: shown(D.maxRequestBytes / MiB) },
    'max-files': { type: 'string', placeholder: 'n', description: 'most files in one request', default: shown(D.maxFiles) },
    'max-pixels': { type: 'string', placeholder: 'n', description: 'largest image in pixels (400 above)', default: shown(D.maxPixels) },
    'max-pixels-per-request': { type: 'string', placeholder: 'n', description: 'most pixels one request\'s images may declare together (413 above)', default: shown(D.maxPixelsPerRequest) },
    'max-pixels-in-flight': { type: 'string', placeholder: 'n', description: 'most declared pixels decoding at once across requests; more wait', default: shown(D.maxPixelsInFlight) },
    'api-key': { type: 'string', multiple: true, placeholder: 'key', description: 'require this key on the API and /metrics (repeatable; also TAGBOORU_API_KEYS=a,b)' },
    cors: { type: 'string', placeholder: 'origins|*', description: 'origins allowed to call the API from a browser (comma list, or *)' },
    ...DEFENCE_OPTIONS,
    'no-ui': { type: 'boolean', description: 'do not serve the web UI' },
    log: { type: 'boolean', description: 'log each request as a JSON line on stdout' },
  },
  details: [
    'Routes: GET / (web UI), POST /evaluate (autotagger), POST /v1/tag, POST /v1/explain, GET /v1/models, GET /healthz, GET /metrics.',
    'GET /v1/models lists the --model the server runs, then each --browser-model, which the web UI runs in the browser only.',
    'With --api-key, every route but the web UI\'s page and files needs a key, GET /metrics included (Prometheus: send it as',
    'the bearer token); GET /healthz answers {"status":"ok"} to anyone and adds the model and the load for a key.',
    'Stops cleanly on SIGINT or SIGTERM, answering the requests in flight first. docs/security.md: what to set where.',
  ].join('\n'),

  async run({ values: v }, io) {
    const port = numberOption('port', v.port, 0, 65535, true) ?? PORT;
    const maxPixelsInFlight = numberOption('max-pixels-in-flight', v['max-pixels-in-flight'], 1, Number.MAX_SAFE_INTEGER, true);
    // a request above the in-flight budget could never start
    const maxPixelsPerRequest = numberOption('max-pixels-per-request', v['max-pixels-per-request'], 1, maxPixelsInFlight ?? D.maxPixelsInFlight, true);
    const cors = listOption(v.cors ? [v.cors] : undefined);
    const apiKeys = [...(listOption(v['api-key']) ?? []), ...(listOption(io.env.TAGBOORU_API_KEYS ? [io.env.TAGBOORU_API_KEYS] : undefined) ?? [])];
    if (apiKeys.some((k) => k.length < 8)) throw new TagbooruError('E_USAGE', 'Expected API keys of at least 8 characters for --api-key');
    // loaded here, so the other commands do not pay for Fastify at start-up
    const { buildApp } = await import('../../server/app.ts');
    const dir = resolveModel(v.model, io.env);
    // the same in-memory graph as tag --tta: the server, its explain worker and the browser all run it
    const tta = v.tta === undefined ? undefined : parseTta('--tta', v.tta);
    if (tta?.tiles) io.stderr.write(UNFITTED_TILES_NOTE);
    const model = tta === undefined ? dir : await ttaInMemory(await readBundle(dir), tta);
    const app = await buildApp({
      model,
      browserModels: [...(v['browser-store'] ? storedModelDirs(io.env) : []), ...(listOption(v['browser-model']) ?? []).map((m) => resolveModel(m, io.env))],
      workers: numberOption('workers', v.workers, 1, 64, true),
      threads: numberOption('threads', v.threads, 1, 256, true),
      prepWorkers: numberOption('prep-workers', v['prep-workers'], 1, 64, true),
      maxBatch: numberOption('max-batch', v['max-batch'], 1, 1024, true),
      queueSize: numberOption('queue', v.queue, 1, 100_000, true),
      timeoutMs: scaled(numberOption('timeout', v.timeout, 0.001, 3600), 1000),
      bodyTimeoutMs: scaled(numberOption('body-timeout', v['body-timeout'], 0.001, 3600), 1000),
      maxUploadBytes: scaled(numberOption('max-upload', v['max-upload'], 0.001, 2048), MiB),
      maxRequestBytes: scaled(numberOption('max-request', v['max-request'], 0.001, 2048), MiB),
      maxFiles: numberOption('max-files', v['max-files'], 1, 1024, true),
      maxPixels: numberOption('max-pixels', v['max-pixels'], 1, Number.MAX_SAFE_INTEGER, true),
      maxPixelsPerRequest,
      maxPixelsInFlight,
      apiKeys,
      cors: cors === undefined ? false : cors.includes('*') ? true : cors,
      ...readDefenceOptions(v),
      ui: !v['no-ui'],
      log: v.log ? io.stdout : false,
    });
    const address = await app.listen({ host: v.host ?? HOST, port });
    io.stderr.write(`tagbooru serve: listening on ${address} (web UI at /, autotagger API at /evaluate, JSON API at /v1/tag)\n`);
    // Only the CLI layer touches process state: a signal closes the server, which drains requests in flight.
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop).off('SIGTERM', stop);
        void app.close().then(resolve, resolve);
      };
      process.once('SIGINT', stop).once('SIGTERM', stop);
    });
    io.stderr.write('tagbooru serve: stopped\n');
    return 0;
  },
});
