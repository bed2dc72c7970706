/**
 * The tagging pipeline, as three steps: decode (sharp, libuv threads) → run (ONNX Runtime in a worker)
 * → select. Batch k+1 is decoded while batch k runs, and a bad image fails alone.
 */
import { TagbooruError, errorMessage, expectNumberInRange } from '../errors.ts';
import { decodeImage, seededRandom, type DecodeOptions, type Defence } from '../image/index.ts';
import { readBundle, type Bundle } from './bundle.ts';
import { chooseDefence, imageRandom, openDefence } from './defences.ts';
import { inputName, inputSource, type ImageInput } from './input.ts';
import { pickMembers } from './member-draw.ts';
import { defendedInputs, imageFloats, inputFeeds, modelInputs, toProbabilities } from './model-io.ts';
import { logitsOf, openOodProbe, scoreOf, judge, type OodInputs, type OodProbe, type OodResult } from './ood.ts';
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
  /** How foreign the image is to the model, when the bundle has a fitted OOD score. */
  readonly ood?: OodResult;
  /** The values the OOD scores read, when `oodInputs: true` was asked for. */
  readonly oodInputs?: OodInputs;
}

export interface TagOptions extends SelectionOptions {
  readonly batchSize?: number;
  /** Keep the full probability vector on each result. */
  readonly scores?: boolean;
  /** Keep the logits and pooled features on each result (fitting and evaluating OOD scores). */
  readonly oodInputs?: boolean;
  readonly onResult?: (result: TagResult, done: number) => void;
}

export interface TaggerOptions {
  readonly threads?: number;
  readonly decode?: DecodeOptions;
  /** Inference worker threads, each with its own session; concurrent `predict` calls go to the least loaded. */
  readonly workers?: number;
  /** Replace an inference worker that dies (a server's choice); by default every call after a death fails with E_WORKER. */
  readonly respawn?: boolean;
  /** Run the model with its OOD outputs even when the bundle has no fit (for `oodInputs`). */
  readonly oodOutputs?: boolean;
  /** Seed of the member draw of an ensemble in `random` mode (default: a fresh one per tagger). */
  readonly seed?: number;
  /**
   * An input-transformation defence spec (`jpeg:quality=75`, `median:size=3+bit-depth:bits=5`, see
   * docs/defences.md) instead of the bundle's `defence`; `none` turns the bundle's off.
   */
  readonly defence?: string | null;
  /** Every image's defence draws from this seed (reproducible answers); default: fresh draws per image. */
  readonly defenceSeed?: number;
}

export const TAG_DEFAULTS = { batchSize: 8 } as const satisfies TagOptions;

/** What a tagger runs on: its bundle and the inference worker serving the bundle's model. */
export interface TaggerSession {
  readonly bundle: Bundle;
  readonly worker: InferenceWorker;
  /** The batch size the model was exported with, when it is fixed (WD v2: 1). */
  readonly fixedBatch: number | null;
  readonly options: TaggerOptions;
  /** The model's OOD outputs and the bundle's fitted score, when it has them (or `oodOutputs` asked). */
  readonly ood: OodProbe | null;
  /** Applied to every image before the bundle's normalisation, or null. */
  readonly defence: Defence | null;
}

/** Reads the bundle (unless given one) and starts the inference worker on its model. */
export async function openTaggerSession(bundle: string | Bundle, options: TaggerOptions = {}): Promise<TaggerSession> {
  const b = typeof bundle === 'string' ? await readBundle(bundle) : bundle;
  if (options.defenceSeed !== undefined) expectNumberInRange('defenceSeed', options.defenceSeed, 0, 2 ** 32 - 1, true);
  const defence = await openDefence(chooseDefence(b, options.defence));
  const ood = await openOodProbe(b, options.oodOutputs);
  const worker = await InferenceWorker.start(ood?.variant.model ?? b.model ?? b.modelPath, { threads: options.threads, workers: options.workers, respawn: options.respawn });
  const input = worker.inputs.find((i) => i.name === b.manifest.input.name) ?? worker.inputs[0];
  if (!input) throw new TagbooruError('E_BUNDLE', `${b.modelPath} has no inputs`);
  const batchDim = input.shape[0];
  return { bundle: b, worker, fixedBatch: typeof batchDim === 'number' ? batchDim : null, options, ood, defence };
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
  private readonly ood: OodProbe | null;
  /** The member draw of an ensemble in `random` mode. */
  private readonly uniform: () => number;
  /** The input-transformation defence every image goes through, or null. */
  readonly defence: Defence | null;

  constructor(session: TaggerSession) {
    ({ bundle: this.bundle, worker: this.worker, fixedBatch: this.fixedBatch, options: this.options, ood: this.ood, defence: this.defence } = session);
    this.uniform = seededRandom(this.options.seed ?? Math.floor(Math.random() * 2 ** 32));
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
    return (await this.run(batch, count)).probs;
  }

  /** Probabilities, and the OOD outputs (logits, pooled features) when the model runs with them. */
  private async run(batch: Float32Array, count: number, order?: readonly number[]): Promise<{ probs: Float32Array; extra: Record<string, Float32Array> }> {
    const { manifest } = this.bundle;
    const inputs = modelInputs(manifest);
    // an ensemble in random mode answers with one member's row per image, drawn from the stacked output
    const members = manifest.ensemble?.combine === 'random' ? manifest.ensemble : null;
    const output = members?.memberOutput ?? manifest.output.name;
    const perImage = manifest.tags.length * (members ? members.members.length : 1);
    const extraNames = [this.ood?.variant.logits, this.ood?.variant.features].filter((n): n is string => !!n);
    const extra: Record<string, Float32Array[]> = Object.fromEntries(extraNames.map((n) => [n, []]));
    const per = imageFloats(inputs);
    const runOne = async (data: Float32Array, n: number) => {
      const out = await this.worker.run(inputFeeds(inputs, data, n), [output, ...extraNames]);
      for (const name of extraNames) extra[name]!.push(out[name]!.data);
      const t = out[output];
      if (!t) throw new TagbooruError('E_MODEL', `the model has no output ${output}`);
      if (t.data.length !== n * perImage) {
        throw new TagbooruError('E_MODEL', `the model gives ${t.data.length / n} scores per image but the bundle lists ${perImage}`);
      }
      return t.data;
    };
    let scores: Float32Array;
    if (this.fixedBatch === null || this.fixedBatch === count) scores = await runOne(batch, count);
    else {
      // a model exported with a fixed batch (WD v2: 1) runs image by image
      scores = new Float32Array(count * perImage);
      for (let i = 0; i < count; i++) scores.set(await runOne(batch.slice(i * per, (i + 1) * per), 1), i * perImage);
    }
    if (members) return { probs: pickMembers(scores, count, members, this.uniform, order), extra: {} };
    // a logits head's raw outputs are the energy score's input, and a calibrated sigmoid head's raw probabilities
    // the logits the OOD score was fitted on: kept before toProbabilities replaces them
    if (manifest.output.activation === 'logits' || manifest.calibration) extra[manifest.output.name] = [scores.slice()];
    return { probs: toProbabilities(scores, manifest), extra: Object.fromEntries(Object.entries(extra).map(([k, parts]) => [k, concat(parts)])) };
  }

  /** The fitted OOD score's threshold, or null when the bundle has none. */
  get oodThreshold(): number | null {
    return this.ood?.fit?.threshold ?? null;
  }

  /**
   * `predict` with each image's OOD score after its probabilities: rows of tags + 1 values, for callers that
   * pass one flat array per image (the server's micro-batcher). Without a fit the rows are the probabilities.
   */
  async predictWithOod(batch: Float32Array, count: number): Promise<Float32Array> {
    const ran = await this.run(batch, count);
    const fit = this.ood?.fit;
    if (!fit) return ran.probs;
    const nTags = this.bundle.manifest.tags.length;
    const rows = new Float32Array(count * (nTags + 1));
    for (let i = 0; i < count; i++) {
      rows.set(ran.probs.subarray(i * nTags, (i + 1) * nTags), i * (nTags + 1));
      rows[i * (nTags + 1) + nTags] = scoreOf(fit.method, this.oodInputsAt(ran, i, count), fit.params);
    }
    return rows;
  }

  /** The OOD inputs of image `slot` of a batch run. */
  private oodInputsAt(run: { probs: Float32Array; extra: Record<string, Float32Array> }, slot: number, count: number): OodInputs {
    const { variant } = this.ood!;
    const { manifest } = this.bundle;
    const nTags = manifest.tags.length;
    const row = (data: Float32Array) => data.subarray(slot * nTags, (slot + 1) * nTags);
    const raw = run.extra[manifest.output.name] ?? run.probs;
    const logits = variant.logits ? row(run.extra[variant.logits]!).slice()
      : manifest.output.activation === 'logits' ? row(raw).slice() : logitsOf(row(raw));
    const all = variant.features ? run.extra[variant.features]! : null;
    const per = all ? all.length / count : 0;
    return { logits, features: all ? all.slice(slot * per, (slot + 1) * per) : null };
  }

  /** Tag inputs in order, yielding each result as soon as its batch is done. */
  async *stream(inputs: Iterable<ImageInput> | AsyncIterable<ImageInput>, options: TagOptions = {}): AsyncGenerator<TagResult> {
    const batchSize = options.batchSize ?? TAG_DEFAULTS.batchSize;
    expectNumberInRange('batchSize', batchSize, 1, 4096, true);
    const { manifest } = this.bundle;
    const selection = compileSelection(manifest.tags, manifest.thresholds, options);
    const specs = modelInputs(manifest);
    const per = imageFloats(specs);
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
          await defendedInputs(image, specs, this.defence, imageRandom(this.options.defenceSeed), data, slot * per);
          return slot;
        } catch (e) {
          return errorMessage(e);
        }
      }));
      return { batch, data: data.subarray(0, count * per), count, slots };
    };

    const infer = async ({ batch, data, count, slots }: Awaited<ReturnType<typeof prepare>>): Promise<TagResult[]> => {
      const order = slots.filter((s): s is number => typeof s === 'number');
      const ran = count > 0 ? await this.run(data, count, order) : { probs: new Float32Array(0), extra: {} };
      const probs = ran.probs;
      return batch.map((input, i) => {
        const file = inputName(input, index + i);
        const slot = slots[i]!;
        if (typeof slot === 'string') return { file, tags: [], rating: null, error: slot };
        const scores = probs.subarray(slot * nTags, (slot + 1) * nTags);
        const { tags, rating } = selection.select(scores);
        const inputs = this.ood && (this.ood.fit || options.oodInputs) ? this.oodInputsAt(ran, slot, count) : null;
        const fit = this.ood?.fit;
        return {
          file, tags, rating, error: null,
          ...(options.scores && { scores: scores.slice() }),
          ...(fit && inputs && { ood: judge(scoreOf(fit.method, inputs, fit.params), fit.threshold) }),
          ...(options.oodInputs && inputs && { oodInputs: inputs }),
        };
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
    await Promise.all([this.worker.close(), this.defence?.close?.()]);
  }
}

function concat(parts: readonly Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
