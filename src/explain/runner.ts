/** The main-thread side of the explain worker: started on the first explain call, answers in order. */
import type { Bundle } from '../infer/bundle.ts';
import type { TensorData } from '../infer/session.ts';
import { siblingModule } from '../package.ts';
import { WorkerClient } from '../workers/client.ts';
import type { ExplainRequest, ExplainResponse, ExplainWorkerInit } from './_worker.ts';
import type { VariantInfo, VariantKind, VariantName } from './variants.ts';

const MODULE = siblingModule('./_worker.ts', import.meta.url).href;

export class ExplainWorker {
  private readonly infos = new Map<VariantName, Promise<VariantInfo>>();
  private readonly client: Promise<WorkerClient<ExplainRequest, ExplainResponse>>;

  constructor(bundle: Bundle, options: { threads?: number } = {}) {
    const init: ExplainWorkerInit = { bundle, threads: options.threads };
    this.client = WorkerClient.start({ name: 'the explain worker', module: MODULE, init, retry: 'create a new tagger to retry', uncoded: 'E_MODEL' });
    this.client.catch(() => undefined); // the first call reports a failed start
  }

  private async request(req: ExplainRequest, transfer: ArrayBufferLike[] = []): Promise<ExplainResponse> {
    return (await this.client).call(req, transfer);
  }

  /** The variant's names and layout, building it if needed (asked once: a variant never changes). */
  async describe<V extends VariantName>(variant: V): Promise<Extract<VariantInfo, { variant: VariantKind<V> }>> {
    let info = this.infos.get(variant);
    if (!info) {
      info = this.request({ op: 'describe', variant }).then((reply) => (reply as { info: VariantInfo }).info);
      this.infos.set(variant, info);
    }
    return (await info) as Extract<VariantInfo, { variant: VariantKind<V> }>;
  }

  /** Run a variant; the feeds' buffers are transferred. */
  async run(variant: VariantName, feeds: Record<string, TensorData>, fetches: string[]): Promise<Record<string, TensorData>> {
    const reply = await this.request({ op: 'run', variant, feeds, fetches }, Object.values(feeds).map((t) => t.data.buffer));
    return (reply as { outputs: Record<string, TensorData> }).outputs;
  }

  async close(): Promise<void> {
    await this.client.then((c) => c.close(), () => undefined);
  }
}
