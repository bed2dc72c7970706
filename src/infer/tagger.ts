/**
 * The tagging pipeline, as three steps: decode (sharp, libuv threads) → run (ONNX Runtime in a worker)
 * → select. Batch k+1 is decoded while batch k runs, and a bad image fails alone.
 */
import { TagbooruError, errorMessage, expectNumberInRange } from '../errors.ts';
import { decodeImage, preprocess, type DecodeOptions } from '../image/index.ts';
import { readBundle, type Bundle } from './bundle.ts';
import { inputName, inputSource, type ImageInput } from './input.ts';
import { inputDims, toProbabilities } from './model-io.ts';
import { InferenceWorker } from './runner.ts';
import { compileSelection, type ScoredTag, type SelectionOptions } from './selection.ts';

export type { ImageInput };

export interface TagResult {
  readonly file: string;
  readonly tags: ScoredTag[];
  readonly rating: ScoredTag | null;
  readonly error: string | null;
  /** Every tag's probability in bundle order, when `scores: true` was asked for. */
  readonly scores?: Float32Array;
}

export interface TagOptions extends SelectionOptions {
  readonly batchSize?: number;
  /** Keep the full probability vector on each result. */
  readonly scores?: boolean;
  readonly onResult?: (result: TagResult, done: number) => void;
}

export interface TaggerOptions {
  readonly threads?: number;
  readonly decode?: DecodeOptions;
  /** Inference worker threads, each with its own session; concurrent `predict` calls go to the least loaded. */
  readonly workers?: number;
  /** Replace an inference worker that dies (a server's choice); by default every call after a death fails with E_WORKER. */
  readonly respawn?: boolean;
}

export const TAG_DEFAULTS = { batchSize: 8 } as const satisfies TagOptions;

/** What a tagger runs on: its bundle and the inference worker serving the bundle's model. */
export interface TaggerSession {
  readonly bundle: Bundle;
  readonly worker: InferenceWorker;
  /** The batch size the model was exported with, when it is fixed (WD v2: 1). */
  readonly fixedBatch: number | null;
  readonly options: TaggerOptions;
}

/** Reads the bundle (unless given one) and starts the inference worker on its model. */
export async function openTaggerSession(bundle: string | Bundle, options: TaggerOptions = {}): Promise<TaggerSession> {
  const b = typeof bundle === 'string' ? await readBundle(bundle) : bundle;
  const worker = await InferenceWorker.start(b.modelPath, { threads: options.threads, workers: options.workers, respawn: options.respawn });
  const input = worker.inputs.find((i) => i.name === b.manifest.input.name) ?? worker.inputs[0];
  if (!input) throw new TagbooruError('E_BUNDLE', `${b.modelPath} has no inputs`);
  const batchDim = input.shape[0];
  return { bundle: b, worker, fixedBatch: typeof batchDim === 'number' ? batchDim : null, options };
}

/**
 * Tagging alone. The public `Tagger` (src/tagger.ts) adds explaining, which is built on this class's `predict`
 * in src/explain, so inference never depends on the explain layer.
 */
export class BaseTagger {
  readonly bundle: Bundle;
  readonly options: TaggerOptions;
  private readonly worker: InferenceWorker;
  private readonly fixedBatch: number | null;

  constructor(session: TaggerSession) {
    ({ bundle: this.bundle, worker: this.worker, fixedBatch: this.fixedBatch, options: this.options } = session);
  }

  get tags() {
    return this.bundle.manifest.tags;
  }

  /** Inference workers started to replace one that died (with `respawn: true`). */
  get respawns(): number {
    return this.worker.respawns;
  }

  /** Probabilities for one preprocessed batch laid out as the bundle's preprocessing says. */
  async predict(batch: Float32Array, count: number): Promise<Float32Array> {
    const { manifest } = this.bundle;
    const { width, height } = manifest.preprocess;
    const per = width * height * 3;
    const runOne = async (data: Float32Array, n: number) => {
      const out = await this.worker.run({ [manifest.input.name]: { data, dims: inputDims(manifest.preprocess, n) } }, [manifest.output.name]);
      const t = out[manifest.output.name];
      if (!t) throw new TagbooruError('E_MODEL', `the model has no output ${manifest.output.name}`);
      if (t.data.length !== n * manifest.tags.length) {
        throw new TagbooruError('E_MODEL', `the model gives ${t.data.length / n} scores per image but the bundle lists ${manifest.tags.length} tags`);
      }
      return t.data;
    };
    let probs: Float32Array;
    if (this.fixedBatch === null || this.fixedBatch === count) probs = await runOne(batch, count);
    else {
      // a model exported with a fixed batch (WD v2: 1) runs image by image
      probs = new Float32Array(count * manifest.tags.length);
      for (let i = 0; i < count; i++) probs.set(await runOne(batch.slice(i * per, (i + 1) * per), 1), i * manifest.tags.length);
    }
    return toProbabilities(probs, manifest.output);
  }

  /** Tag inputs in order, yielding each result as soon as its batch is done. */
  async *stream(inputs: Iterable<ImageInput> | AsyncIterable<ImageInput>, options: TagOptions = {}): AsyncGenerator<TagResult> {
    const batchSize = options.batchSize ?? TAG_DEFAULTS.batchSize;
    expectNumberInRange('batchSize', batchSize, 1, 4096, true);
    const { manifest } = this.bundle;
    const selection = compileSelection(manifest.tags, manifest.thresholds, options);
    const spec = manifest.preprocess;
    const per = spec.width * spec.height * 3;
    const nTags = manifest.tags.length;
    let index = 0;

    // Each image is preprocessed into the batch tensor as soon as it is decoded, so at most one batch of
    // full-size decoded images is alive; slots are given in completion order and mapped back to inputs.
    const prepare = async (batch: ImageInput[]) => {
      const data = new Float32Array(batch.length * per);
      let count = 0;
      const slots = await Promise.all(batch.map(async (input): Promise<number | string> => {
        try {
          const image = await decodeImage(inputSource(input), this.options.decode);
          const slot = count++;
          preprocess(image, spec, data, slot * per);
          return slot;
        } catch (e) {
          return errorMessage(e);
        }
      }));
      return { batch, data: data.subarray(0, count * per), count, slots };
    };

    const infer = async ({ batch, data, count, slots }: Awaited<ReturnType<typeof prepare>>): Promise<TagResult[]> => {
      const probs = count > 0 ? await this.predict(data, count) : new Float32Array(0);
      return batch.map((input, i) => {
        const file = inputName(input, index + i);
        const slot = slots[i]!;
        if (typeof slot === 'string') return { file, tags: [], rating: null, error: slot };
        const scores = probs.subarray(slot * nTags, (slot + 1) * nTags);
        const { tags, rating } = selection.select(scores);
        return options.scores ? { file, tags, rating, error: null, scores: scores.slice() } : { file, tags, rating, error: null };
      });
    };

    let running: Promise<TagResult[]> | null = null;
    let done = 0;
    const flush = async function* (this: void, results: Promise<TagResult[]>) {
      for (const r of await results) {
        options.onResult?.(r, ++done);
        yield r;
      }
    };
    let batch: ImageInput[] = [];
    const submit = async () => {
      const prepared = await prepare(batch); // overlaps the batch that is running
      const run = infer(prepared);
      index += batch.length;
      batch = [];
      run.catch(() => undefined); // awaited below; keeps an early failure from being reported as unhandled
      return { run }; // wrapped: an async function would otherwise await the run here

    };
    for await (const input of inputs) {
      batch.push(input);
      if (batch.length < batchSize) continue;
      const { run } = await submit();
      if (running) yield* flush(running);
      running = run;
    }
    if (batch.length > 0) {
      const { run } = await submit();
      if (running) yield* flush(running);
      running = run;
    }
    if (running) yield* flush(running);
  }

  /** Tag one input or a list; a list keeps its order. */
  async tag(input: ImageInput, options?: TagOptions): Promise<TagResult>;
  async tag(inputs: readonly ImageInput[], options?: TagOptions): Promise<TagResult[]>;
  async tag(input: ImageInput | readonly ImageInput[], options: TagOptions = {}): Promise<TagResult | TagResult[]> {
    const list = Array.isArray(input) ? (input as readonly ImageInput[]) : [input as ImageInput];
    const out: TagResult[] = [];
    for await (const r of this.stream(list, options)) out.push(r);
    return Array.isArray(input) ? out : out[0]!;
  }

  async close(): Promise<void> {
    await this.worker.close();
  }
}

