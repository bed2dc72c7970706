/**
 * What the routes share: preparation workers (decode → preprocess), model workers behind a micro-batcher
 * (batched predict), admission (a bounded number of tagging requests in flight), the decoded-pixel budget, and
 * the explain pool with its own queue.
 */
import { Admission } from './admission.ts';
import { declaredPixels } from '../image/index.ts';
import { createTagger, readBundle, type Bundle, type Tagger } from '../index.ts';
import { NO_DEFENCE } from '../image/index.ts';
import { checkDefence, chooseDefence } from '../infer/defences.ts';
import { MicroBatcher } from './batcher.ts';
import { ExplainPool } from './explain-pool.ts';
import { Metrics } from './metrics.ts';
import type { ResolvedOptions } from './options.ts';
import { PixelBudget } from './pixel-budget.ts';
import { PrepPool, type Prepared } from './prep-pool.ts';
import { ServiceTime } from './service-time.ts';
import { imageFloats, modelInputs } from '../infer/model-io.ts';
import { judge, type OodResult } from '../infer/ood.ts';

export interface Upload {
  readonly name: string;
  readonly data: Uint8Array;
}

/** Every tag's probability in bundle order and the media type the image was decoded as, or why the upload is not an image. */
export type Scored =
  | { readonly file: string; readonly scores: Float32Array; readonly mediaType: string; readonly error: null; readonly ood?: OodResult }
  | { readonly file: string; readonly scores: null; readonly mediaType: null; readonly error: string; readonly ood?: undefined };

export class TaggingService {
  readonly metrics: Metrics;
  readonly explainer: ExplainPool;
  private readonly batcher: MicroBatcher;
  private readonly oodThreshold: number | null;
  readonly pixels: PixelBudget;
  private readonly admission = new Admission(() => this.options.queueSize, { requests: 'tagging', queue: 'queue size' }, () => this.retryAfter());
  /** Seconds per image in inference (nothing measured: the 1 s minimum answers). */
  private readonly service = new ServiceTime(0);

  private constructor(
    readonly bundle: Bundle,
    private readonly tagger: Tagger,
    private readonly prep: PrepPool,
    private readonly options: ResolvedOptions,
  ) {
    const { tags } = bundle.manifest;
    this.pixels = new PixelBudget({ perRequest: options.maxPixelsPerRequest, inFlight: options.maxPixelsInFlight });
    this.metrics = new Metrics({
      queueDepth: () => this.batcher.depth,
      running: () => this.batcher.running,
      inFlight: () => this.admission.inFlight,
      explainQueueDepth: () => this.explainer.load.queued,
      explainInFlight: () => this.explainer.load.inFlight,
      respawns: () => ({ inference: this.tagger.respawns, preparation: this.prep.respawns, explain: this.explainer.respawns }),
    });
    this.explainer = new ExplainPool({
      model: bundle.dir,
      threads: options.explainThreads,
      maxPixels: options.maxPixels,
      queueSize: options.explainQueueSize,
      onExplained: (method, seconds) => {
        this.metrics.imagesExplained.inc({ method });
        this.metrics.explaining.observe(seconds, { method });
      },
    });
    // one predictor per worker: the batcher keeps each busy with one batch, the tagger sends it to an idle one;
    // with a fitted OOD score each image's row carries it after the probabilities
    this.oodThreshold = tagger.oodThreshold;
    const predictor = { predict: (batch: Float32Array, count: number) => tagger.predictWithOod(batch, count) };
    this.batcher = new MicroBatcher(Array.from({ length: options.workers }, () => predictor), {
      maxBatch: options.maxBatch,
      inputSize: imageFloats(modelInputs(bundle.manifest)),
      outputSize: tags.length + (this.oodThreshold === null ? 0 : 1),
      onBatch: ({ size, seconds }) => {
        this.metrics.batchSize.observe(size);
        this.metrics.inference.observe(seconds);
        this.service.observe(seconds / size);
      },
    });
  }

  static async start(options: ResolvedOptions): Promise<TaggingService> {
    const bundle = typeof options.model === 'string' ? await readBundle(options.model) : options.model;
    // the defence runs where the preprocessing does, in the preparation workers; the tagger gets none
    const defence = chooseDefence(bundle, options.defence);
    checkDefence(defence, '--defence');
    const prep = PrepPool.start(options.prepWorkers, modelInputs(bundle.manifest), options.maxPixels, { defence, defenceSeed: options.defenceSeed });
    // a worker that dies is replaced: its batch fails with E_WORKER (503), the next one runs
    const tagger = createTagger(bundle, { threads: options.threads, workers: options.workers, respawn: true, defence: NO_DEFENCE });
    const settled = await Promise.allSettled([prep, tagger]);
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure) {
      // close what did start, or its threads would keep the process alive
      await Promise.all(settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.close()] : [])));
      throw failure.reason;
    }
    return new TaggingService(bundle, await tagger, await prep, options);
  }

  /** Images waiting for a worker, images being run, tagging requests in flight, decoded pixels reserved. */
  get load(): { queued: number; running: number; inFlight: number; pixelsReserved: number } {
    return { queued: this.batcher.depth, running: this.batcher.running, inFlight: this.admission.inFlight, pixelsReserved: this.pixels.reserved };
  }

  /** Claim a place for one tagging request, or refuse with 503; call the returned function once when done. */
  admit(): () => void {
    return this.admission.admit();
  }

  /** Whole seconds until the work in hand is likely done; at least 1. */
  retryAfter(): number {
    const images = this.batcher.depth + this.batcher.running + this.admission.inFlight;
    return this.service.retryAfter(images, this.options.workers);
  }

  /**
   * The pixels the uploads declare are reserved before any is decoded (413 for a request that can never fit, a
   * wait for one that fits later), each image's share given back once its preparation is over; then the images
   * among them go to inference together.
   */
  async score(uploads: readonly Upload[], signal: AbortSignal): Promise<Scored[]> {
    const pixels = await Promise.all(uploads.map((u) => declaredPixels(u.data, { maxPixels: this.options.maxPixels })));
    const reservation = await this.pixels.reserve(pixels, signal);
    const prepared = await this.prep.prepare(uploads.map((u) => u.data), signal, (i) => reservation.release(pixels[i]!));
    signal.throwIfAborted();
    const images = prepared.filter((p): p is Prepared => typeof p !== 'string');
    this.metrics.imagesRejected.inc({}, prepared.length - images.length);
    const scores = images.length ? await this.batcher.run(images.map((p) => p.tensor), signal) : [];
    this.metrics.imagesTagged.inc({}, scores.length);
    let next = 0;
    const nTags = this.bundle.manifest.tags.length, threshold = this.oodThreshold;
    return prepared.map((p, i) => {
      const file = uploads[i]!.name;
      if (typeof p === 'string') return { file, scores: null, mediaType: null, error: p };
      const row = scores[next++]!;
      const ood = threshold === null ? {} : { ood: judge(row[nTags]!, threshold) };
      return { file, scores: row.subarray(0, nTags), mediaType: p.mediaType, error: null, ...ood };
    });
  }

  async close(): Promise<void> {
    await Promise.all([this.prep.close(), this.explainer.close(), this.tagger.close()]);
  }
}
