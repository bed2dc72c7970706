/**
 * Micro-batching: images from concurrent requests wait here and go to an idle model worker together, as one
 * `predict()` call of up to `maxBatch` images. A worker that is idle takes what is waiting at once, so a lone
 * request pays no batching delay; while the workers are busy, arrivals pile up into the next batch.
 */
import { InvariantError } from '../errors.ts';

export interface Predictor {
  predict(batch: Float32Array, count: number): Promise<Float32Array>;
}

export interface BatchStats {
  readonly size: number;
  readonly seconds: number;
}

interface Job {
  readonly input: Float32Array;
  /** Hands the outcome to the caller's request; only its first outcome counts (an abort may race a finishing batch). */
  readonly finish: (outcome: { scores: Float32Array } | { error: Error }) => void;
}

export class MicroBatcher {
  private readonly waiting: Job[] = [];
  private readonly idle: Predictor[];
  private inFlight = 0;

  constructor(
    predictors: readonly Predictor[],
    private readonly options: {
      readonly maxBatch: number;
      /** Floats per image in, scores per image out. */
      readonly inputSize: number;
      readonly outputSize: number;
      readonly onBatch?: (stats: BatchStats) => void;
    },
  ) {
    this.idle = [...predictors];
  }

  /** Images waiting for a worker. */
  get depth(): number {
    return this.waiting.length;
  }

  /** Images inside a running `predict()`. */
  get running(): number {
    return this.inFlight;
  }

  /**
   * Scores for preprocessed images, in order. They join the queue together, so one request's images share a
   * batch. An abort drops the images still waiting and rejects with the signal's reason.
   */
  run(inputs: readonly Float32Array[], signal?: AbortSignal): Promise<Float32Array[]> {
    for (const input of inputs) {
      if (input.length !== this.options.inputSize) {
        return Promise.reject(new InvariantError(`Expected ${this.options.inputSize} floats for an input image but received ${input.length}`));
      }
    }
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (inputs.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const results: Float32Array[] = [];
      let left = inputs.length;
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve(results);
      };
      const jobs = inputs.map((input, i): Job => ({
        input,
        finish: (outcome) => {
          if ('error' in outcome) return settle(outcome.error);
          results[i] = outcome.scores;
          if (--left === 0) settle();
        },
      }));
      // one listener for the whole request: a listener per image trips Node's MaxListeners warning past ten
      const onAbort = () => {
        for (const job of jobs) {
          const at = this.waiting.indexOf(job);
          if (at >= 0) this.waiting.splice(at, 1);
        }
        settle(signal!.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(...jobs);
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.waiting.length > 0) {
      const predictor = this.idle.pop()!;
      const jobs = this.waiting.splice(0, this.options.maxBatch);
      void this.dispatch(predictor, jobs);
    }
  }

  private async dispatch(predictor: Predictor, jobs: Job[]): Promise<void> {
    const { inputSize, outputSize } = this.options;
    const batch = new Float32Array(jobs.length * inputSize);
    jobs.forEach((j, i) => batch.set(j.input, i * inputSize));
    this.inFlight += jobs.length;
    const started = performance.now();
    try {
      const scores = await predictor.predict(batch, jobs.length);
      this.options.onBatch?.({ size: jobs.length, seconds: (performance.now() - started) / 1000 });
      jobs.forEach((j, i) => j.finish({ scores: scores.subarray(i * outputSize, (i + 1) * outputSize) }));
    } catch (e) {
      for (const j of jobs) j.finish({ error: e as Error });
    } finally {
      this.inFlight -= jobs.length;
      this.idle.push(predictor);
      this.pump();
    }
  }
}
