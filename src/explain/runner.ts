/**
 * The main-thread side of the explain worker: started on the first explain call, answers in order. One worker
 * serves every model of a call: a bundle, or each member of an ensemble (their variants built there on first use).
 */
import type { Bundle } from '../infer/bundle.ts';
import type { TensorData } from '../infer/session.ts';
import { siblingModule } from '../package.ts';
import { WorkerClient } from '../workers/client.ts';
import type { ExplainRequest, ExplainResponse, ExplainWorkerInit } from './_worker.ts';
import type { VariantInfo, VariantKind, VariantName } from './variants.ts';

const MODULE = siblingModule('./_worker.ts', import.meta.url).href;

/** One model's variants, as the methods run them. */
export interface VariantRunner {
  /** The variant's names and layout, building it if needed (asked once: a variant never changes). */
  describe<V extends VariantName>(variant: V): Promise<Extract<VariantInfo, { variant: VariantKind<V> }>>;
  /** Run a variant; the feeds' buffers are transferred. */
  run(variant: VariantName, feeds: Record<string, TensorData>, fetches: string[]): Promise<Record<string, TensorData>>;
}

export class ExplainWorker {
  private readonly client: Promise<WorkerClient<ExplainRequest, ExplainResponse>>;
  private readonly runners: VariantRunner[];

  constructor(bundles: readonly Bundle[], options: { threads?: number } = {}) {
    const init: ExplainWorkerInit = { bundles, threads: options.threads };
    this.client = WorkerClient.start({ name: 'the explain worker', module: MODULE, init, retry: 'create a new tagger to retry', uncoded: 'E_MODEL' });
    this.client.catch(() => undefined); // the first call reports a failed start
    this.runners = bundles.map((_, model) => this.runner(model));
  }

  /** The runner of the `model`-th bundle (in the order given). */
  model(model: number): VariantRunner {
    return this.runners[model]!;
  }

  private runner(model: number): VariantRunner {
    const infos = new Map<VariantName, Promise<VariantInfo>>();
    const request = async (req: ExplainRequest, transfer: ArrayBufferLike[] = []) => (await this.client).call(req, transfer);
    return {
      describe: async <V extends VariantName>(variant: V) => {
        let info = infos.get(variant);
        if (!info) {
          info = request({ op: 'describe', model, variant }).then((reply) => (reply as { info: VariantInfo }).info);
          infos.set(variant, info);
        }
        return (await info) as Extract<VariantInfo, { variant: VariantKind<V> }>;
      },
      run: async (variant, feeds, fetches) => {
        const reply = await request({ op: 'run', model, variant, feeds, fetches }, Object.values(feeds).map((t) => t.data.buffer));
        return (reply as { outputs: Record<string, TensorData> }).outputs;
      },
    };
  }

  async close(): Promise<void> {
    await this.client.then((c) => c.close(), () => undefined);
  }
}
