/**
 * Explaining built on a tagger: the tagger's model gives the probabilities, and the variant models (cam probe,
 * gradient graphs) run in a second worker, started on the first call and built there on first use of each method.
 */
import { TagbooruError } from '../errors.ts';
import type { BundleManifest } from '../infer/bundle.ts';
import type { BaseTagger, ImageInput } from '../infer/tagger.ts';
import { explainStream } from './explain.ts';
import type { ExplainContext } from './methods.ts';
import { ExplainWorker } from './runner.ts';
import type { ExplainOptions, ExplainResult } from './types.ts';

export class Explainer {
  private context: ExplainContext | null = null;

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
  explainStream(inputs: Iterable<ImageInput> | AsyncIterable<ImageInput>, options: ExplainOptions = {}): AsyncGenerator<ExplainResult> {
    return explainStream(this.explainContext(), inputs, options, this.tagger.options.decode);
  }

  private explainContext(): ExplainContext {
    if (this.context) return this.context;
    const { bundle } = this.tagger;
    refuseComposite(bundle.manifest);
    const { width, height } = bundle.manifest.preprocess;
    let baseline: Promise<Float32Array> | null = null;
    this.context = {
      bundle,
      worker: new ExplainWorker(bundle, { threads: this.tagger.options.threads }),
      predict: (x, count) => this.tagger.predict(x, count),
      baseline: () => (baseline ??= this.tagger.predict(new Float32Array(width * height * 3), 1)),
    };
    return this.context;
  }

  /** Stops the explain worker, if one was started; the tagger is its owner's to close. */
  async close(): Promise<void> {
    await this.context?.worker.close();
  }
}

/**
 * Whether the methods can explain this bundle: an ensemble's or an augmented graph's maps would be one member's
 * or one view's, on one member's input grid, so they are refused rather than passed off as the bundle's.
 */
export function compositeRefusal(m: Pick<BundleManifest, 'name' | 'ensemble' | 'tta'>): TagbooruError | null {
  const what = m.ensemble
    ? `an ensemble of ${m.ensemble.members.length} members (explain one of its member bundles: ${m.ensemble.members.map((x) => x.source).join(', ')})`
    : m.tta ? 'a test-time-augmented bundle (explain the bundle it was made from)' : null;
  return what ? new TagbooruError('E_USAGE', `${m.name} is ${what}: explain methods run on single models`) : null;
}

function refuseComposite(m: BundleManifest): void {
  const refusal = compositeRefusal(m);
  if (refusal) throw refusal;
}
