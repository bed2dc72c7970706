/** Server settings, merged with their defaults once, at the boundary. */
import os from 'node:os';
import { TagbooruError, expectNumberInRange } from '../errors.ts';
import { defined } from '../option-values.ts';
import type { Bundle } from '../infer/bundle.ts';

export interface ServerOptions {
  /** A model bundle folder, or a bundle already read (`serve --tta`: the augmented graph built in memory). */
  readonly model: string | Bundle;
  /** Inference workers, each with its own ONNX Runtime session. */
  readonly workers?: number;
  /** ONNX Runtime threads per worker; default: the cores shared out between the workers. */
  readonly threads?: number;
  /** Workers that decode and preprocess uploads, off the main thread; default: one per core. */
  readonly prepWorkers?: number;
  /** Most images in one inference call: concurrent requests are batched up to this. */
  readonly maxBatch?: number;
  /** Tagging requests in flight (decoding, waiting, running; counted once the body has arrived); one more is answered 503. */
  readonly queueSize?: number;
  /** Explain requests in flight (`POST /v1/explain`), a queue apart from tagging's; one more is answered 503. */
  readonly explainQueueSize?: number;
  /** ONNX Runtime threads of the explain worker (started on the first explain request). */
  readonly explainThreads?: number;
  /** A tagging request not answered within this many milliseconds of its body's arrival is answered 503. */
  readonly timeoutMs?: number;
  /** A request body not received within this many milliseconds is answered 408 and its connection closed. */
  readonly bodyTimeoutMs?: number;
  /** Largest uploaded file, in bytes (413 above). */
  readonly maxUploadBytes?: number;
  /** Largest request body, every part together, in bytes (413 above). */
  readonly maxRequestBytes?: number;
  /** Most files in one request (413 above). */
  readonly maxFiles?: number;
  /** Largest image, in pixels, read from its header before decoding (400 above: a decompression bomb). */
  readonly maxPixels?: number;
  /** Most pixels one request's images may declare together, read from their headers (413 above). */
  readonly maxPixelsPerRequest?: number;
  /** Most declared pixels waiting for or in decoding across all requests; a request that would pass it waits. */
  readonly maxPixelsInFlight?: number;
  /** When non-empty, the API routes need one of these keys (`Authorization: Bearer …` or `X-API-Key`). */
  readonly apiKeys?: readonly string[];
  /** Origins allowed to call the API from a browser; `true` allows any. */
  readonly cors?: boolean | readonly string[];
  /** Other bundle folders offered to the web UI's in-browser mode (its model picker); the server runs `model` only. */
  readonly browserModels?: readonly string[];
  /** An input-transformation defence spec instead of the bundle's `defence` (`none`: off); null: the bundle's. */
  readonly defence?: string | null;
  /** Every upload's defence draws from this seed; null: fresh draws per image. */
  readonly defenceSeed?: number | null;
  /** Serve the web UI at `/`. */
  readonly ui?: boolean;
  /** Fastify's request log: off, or a stream to write JSON lines to. */
  readonly log?: false | NodeJS.WritableStream;
}

export type ResolvedOptions = Required<Omit<ServerOptions, 'threads' | 'prepWorkers'>> & { readonly threads: number; readonly prepWorkers: number };

export const SERVER_DEFAULTS = {
  workers: 1,
  maxBatch: 16,
  queueSize: 64,
  explainQueueSize: 8,
  explainThreads: 1,
  timeoutMs: 30_000,
  bodyTimeoutMs: 30_000,
  maxUploadBytes: 20 * 2 ** 20,
  maxRequestBytes: 64 * 2 ** 20,
  maxFiles: 16,
  maxPixels: 50_000_000,
  maxPixelsPerRequest: 200_000_000,
  maxPixelsInFlight: 400_000_000,
  apiKeys: [],
  cors: false,
  browserModels: [],
  ui: true,
  log: false,
  defence: null,
  defenceSeed: null,
} satisfies Omit<ResolvedOptions, 'model' | 'threads' | 'prepWorkers'>;

export function resolveOptions(options: ServerOptions): ResolvedOptions {
  const { model } = options;
  const isBundle = typeof model === 'object' && model !== null && typeof model.dir === 'string' && typeof model.manifest === 'object';
  if (!isBundle && (typeof model !== 'string' || model === '')) {
    throw new TagbooruError('E_USAGE', 'Expected a bundle folder for model');
  }
  if (options.browserModels !== undefined && (!Array.isArray(options.browserModels) || options.browserModels.some((d) => typeof d !== 'string' || d === ''))) {
    throw new TagbooruError('E_USAGE', 'Expected a list of bundle folders for browserModels');
  }
  const o = { ...SERVER_DEFAULTS, ...defined(options), model };
  expectNumberInRange('workers', o.workers, 1, 64, true);
  if (o.defenceSeed !== null) expectNumberInRange('defenceSeed', o.defenceSeed, 0, 2 ** 32 - 1, true);
  expectNumberInRange('maxBatch', o.maxBatch, 1, 1024, true);
  expectNumberInRange('queueSize', o.queueSize, 1, 100_000, true);
  expectNumberInRange('explainQueueSize', o.explainQueueSize, 1, 10_000, true);
  expectNumberInRange('explainThreads', o.explainThreads, 1, 256, true);
  expectNumberInRange('timeoutMs', o.timeoutMs, 1, 3_600_000, true);
  expectNumberInRange('bodyTimeoutMs', o.bodyTimeoutMs, 1, 3_600_000, true);
  expectNumberInRange('maxUploadBytes', o.maxUploadBytes, 1, 2 ** 31, true);
  expectNumberInRange('maxRequestBytes', o.maxRequestBytes, 1, 2 ** 31, true);
  expectNumberInRange('maxFiles', o.maxFiles, 1, 1024, true);
  expectNumberInRange('maxPixels', o.maxPixels, 1, Number.MAX_SAFE_INTEGER, true);
  expectNumberInRange('maxPixelsInFlight', o.maxPixelsInFlight, 1, Number.MAX_SAFE_INTEGER, true);
  // a request above the in-flight budget could never start
  expectNumberInRange('maxPixelsPerRequest', o.maxPixelsPerRequest, 1, o.maxPixelsInFlight, true);
  const threads = o.threads ?? Math.max(1, Math.floor(os.availableParallelism() / o.workers));
  expectNumberInRange('threads', threads, 1, 256, true);
  const prepWorkers = o.prepWorkers ?? Math.max(1, os.availableParallelism());
  expectNumberInRange('prepWorkers', prepWorkers, 1, 64, true);
  return { ...o, threads, prepWorkers };
}
