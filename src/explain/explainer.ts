/**
 * Explaining built on a tagger: the tagger's model gives the probabilities, and the variant models (cam probe,
 * gradient graphs) run in a second worker, started on the first call and built there on first use of each method.
 */
import { TagbooruError } from '../errors.ts';
import type { BundleManifest } from '../infer/bundle.ts';
import type { BaseTagger, ImageInput } from '../infer/tagger.ts';
import { memberContext } from './ensemble.ts';
import { explainStream, type Context } from './explain.ts';
import { ensembleMembers } from './members.ts';
import { ExplainWorker } from './runner.ts';
import type { ExplainOptions, ExplainResult } from './types.ts';

export class Explainer {
  private context: Promise<{ ctx: Context; worker: ExplainWorker }> | null = null;

  constructor(private readonly tagger: BaseTagger) {}

  /** Where each tag is: a map, a mask, a box and a peak per tag (see docs/explain.md). */
  async explain(input: ImageInput, options?: ExplainOptions): Promise<ExplainResult>;
  async explain(inputs: readonly ImageInput[], options?: ExplainOptions): Promise<ExplainResult[]>;
  async explain(input: ImageInput | readonly ImageInput[], options?: ExplainOptions): Promise<ExplainResult | ExplainResult[]>;
  async explain(input: ImageInput | readonly ImageInput[], options: ExplainOptions = {}): Promise<ExplainResult | ExplainResult[]> {
    const list = Array.isArray(input) ? (input as readonly ImageInput[]) : [input as ImageInput];
    const out: ExplainResult[] = [];
    for await (const r of this.explainStream(list, options)) out.push(r);
    return Array.isArray(input) ? out : out[0]!;
  }

  /** `explain`, yielding each image's result as soon as it is done. */
  async *explainStream(inputs: Iterable<ImageInput> | AsyncIterable<ImageInput>, options: ExplainOptions = {}): AsyncGenerator<ExplainResult> {
    this.context ??= this.createContext();
    yield* explainStream((await this.context).ctx, inputs, options, this.tagger.options.decode);
  }

  /** The context of a single model, or of each member of an ensemble; one explain worker runs them all. */
  private async createContext(): Promise<{ ctx: Context; worker: ExplainWorker }> {
    const { bundle } = this.tagger;
    refuseComposite(bundle.manifest);
    const { threads } = this.tagger.options;
    const predict = (x: Float32Array, count: number) => this.tagger.predict(x, count);
    if (bundle.manifest.ensemble) {
      const members = await ensembleMembers(bundle);
      const worker = new ExplainWorker(members.map((m) => m.bundle), { threads });
      return { ctx: { bundle, members: members.map((member, k) => ({ member, ctx: memberContext(member, worker.model(k)) })), predict }, worker };
    }
    const { width, height } = bundle.manifest.preprocess;
    const worker = new ExplainWorker([bundle], { threads });
    let baseline: Promise<Float32Array> | null = null;
    const ctx = { bundle, worker: worker.model(0), predict, baseline: () => (baseline ??= this.tagger.predict(new Float32Array(width * height * 3), 1)) };
    return { ctx, worker };
  }

  /** Stops the explain worker, if one was started; the tagger is its owner's to close. */
  async close(): Promise<void> {
    await (await this.context?.catch(() => null))?.worker.close();
  }
}

/**
 * Whether the methods can explain this bundle: an augmented graph's maps would be one view's, so it is refused
 * rather than passed off as the bundle's. An ensemble is explained member by member (ensemble.ts).
 */
export function compositeRefusal(m: Pick<BundleManifest, 'name' | 'ensemble' | 'tta'>): TagbooruError | null {
  if (!m.tta) return null;
  const from = m.ensemble ? 'the ensemble without --tta' : 'the bundle it was made from';
  return new TagbooruError('E_USAGE', `${m.name} is a test-time-augmented bundle: its answer combines ${m.tta.views} views, and a map of one view would not be its map; explain ${from} instead`);
}

function refuseComposite(m: BundleManifest): void {
  const refusal = compositeRefusal(m);
  if (refusal) throw refusal;
}
