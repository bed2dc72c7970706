/**
 * The public tagger: tagging (src/infer) with explaining (src/explain) built on it. Composed here so that
 * inference never depends on the explain layer, while users keep one object that does both.
 */
import { Explainer } from './explain/explainer.ts';
import type { ExplainOptions, ExplainResult } from './explain/types.ts';
import { BaseTagger, openTaggerSession, type ImageInput, type TaggerOptions } from './infer/tagger.ts';
import type { Bundle } from './infer/bundle.ts';

export class Tagger extends BaseTagger {
  private explainer: Explainer | null = null;

  /** Where each tag is: a map, a mask, a box and a peak per tag (see docs/explain.md). */
  explain(input: ImageInput, options?: ExplainOptions): Promise<ExplainResult>;
  explain(inputs: readonly ImageInput[], options?: ExplainOptions): Promise<ExplainResult[]>;
  explain(input: ImageInput | readonly ImageInput[], options?: ExplainOptions): Promise<ExplainResult | ExplainResult[]> {
    return this.explaining().explain(input, options);
  }

  /** `explain`, yielding each image's result as soon as it is done. */
  explainStream(inputs: Iterable<ImageInput> | AsyncIterable<ImageInput>, options?: ExplainOptions): AsyncGenerator<ExplainResult> {
    return this.explaining().explainStream(inputs, options);
  }

  private explaining(): Explainer {
    return (this.explainer ??= new Explainer(this));
  }

  override async close(): Promise<void> {
    await Promise.all([super.close(), this.explainer?.close()]);
  }
}

export async function createTagger(bundle: string | Bundle, options?: TaggerOptions): Promise<Tagger> {
  return new Tagger(await openTaggerSession(bundle, options));
}
