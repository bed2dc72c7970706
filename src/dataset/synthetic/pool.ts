/** Render workers on the main-thread side: requests spread over the workers, answers as promises. */
import { siblingModule } from '../../package.ts';
import { WorkerPool } from '../../workers/pool.ts';
import type { ProduceRequest, ProducedImage } from './produce.ts';

const MODULE = siblingModule('./_worker.ts', import.meta.url).href;

export class RenderPool {
  private constructor(private readonly pool: WorkerPool<ProduceRequest, ProducedImage>) {}

  static async start(workers: number): Promise<RenderPool> {
    const spec = { name: 'a render worker', module: MODULE, retry: 'a new one is starting: try again' };
    return new RenderPool(await WorkerPool.start(spec, { size: workers, respawn: true }));
  }

  /** Workers started to replace one that died. */
  get respawns(): number {
    return this.pool.respawns;
  }

  /** Sent to the least busy worker. */
  produce(request: ProduceRequest): Promise<ProducedImage> {
    return this.pool.call(request);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
