/**
 * N workers of one kind behind one `call()`: each request goes to the least loaded live worker. A worker that
 * dies fails only its own requests; with `respawn` it is replaced at once, and a replacement that fails to start
 * is retried with growing pauses until `MAX_FAILED_STARTS` in a row, then the slot gives up with E_WORKER
 * rather than spin. Without `respawn` a dead worker stays dead and later calls fail with its E_WORKER.
 */
import { TagbooruError, errorMessage } from '../errors.ts';
import { WorkerClient, type WorkerSpec } from './client.ts';

export const MAX_FAILED_STARTS = 5;
/** The pause before the n-th retry of a failed respawn (the first respawn after a death waits for nothing). */
const backoffMs = (failures: number) => (failures === 0 ? 0 : Math.min(100 * 2 ** (failures - 1), 3_000));

export interface PoolOptions {
  readonly size: number;
  readonly respawn: boolean;
  /** Told when a worker becomes ready, dies or is given up, so a queue in front of the pool can move on. */
  readonly onChange?: () => void;
}

interface Slot<Request, Response, Info> {
  client: WorkerClient<Request, Response, Info> | null;
  /** A start under way (a respawn's pause included). */
  starting: Promise<WorkerClient<Request, Response, Info>> | null;
  /** Ends a respawn's pause early when the pool closes. */
  cancel: (() => void) | null;
  /** The last worker's death, once one has died. */
  death: TagbooruError | null;
  /** Failed starts in a row since the last death. */
  failures: number;
  givenUp: TagbooruError | null;
}

export class WorkerPool<Request, Response, Info = undefined> {
  private readonly slots: Slot<Request, Response, Info>[];
  private closed = false;
  private replaced = 0;

  constructor(
    readonly spec: WorkerSpec,
    private readonly options: PoolOptions,
  ) {
    this.slots = Array.from({ length: options.size }, () => ({ client: null, starting: null, cancel: null, death: null, failures: 0, givenUp: null }));
  }

  /** A pool whose workers have all started; if one cannot start, the others are stopped and its error thrown. */
  static async start<Request, Response, Info = undefined>(spec: WorkerSpec, options: PoolOptions): Promise<WorkerPool<Request, Response, Info>> {
    const pool = new WorkerPool<Request, Response, Info>(spec, options);
    const started = await Promise.allSettled(pool.slots.map((s) => pool.launch(s)));
    const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure) {
      await pool.close();
      throw failure.reason;
    }
    return pool;
  }

  /** Workers started to replace one that died. */
  get respawns(): number {
    return this.replaced;
  }

  /** What the workers said when they became ready (every worker of a pool says the same). */
  get info(): Info | undefined {
    return this.slots.find((s) => s.client)?.client?.info;
  }

  /** Unanswered requests of the least loaded live worker; Infinity while none is live. */
  get leastLoad(): number {
    return Math.min(...this.slots.map((s) => (s.client ? s.client.load : Infinity)));
  }

  /** Why no call can succeed any more (every worker dead for good, or the pool closed); null while one can. */
  get broken(): TagbooruError | null {
    if (this.closed) return this.closedError();
    if (this.slots.some((s) => s.client !== null || s.starting !== null || this.canStart(s))) return null;
    return this.slots[0]!.givenUp ?? this.slots[0]!.death;
  }

  /** Resolves once a worker is live, starting one if none is (a lazy pool's first worker). */
  async ready(): Promise<void> {
    await this.pick();
  }

  /** The least loaded live worker's answer, waiting for a start or a respawn under way when none is live. */
  call(request: Request, transfer: readonly ArrayBufferLike[] = []): Promise<Response> {
    // a live worker takes the request at once, so `leastLoad` counts it before this returns
    const live = this.leastLoaded();
    return live ? live.call(request, transfer) : this.pick().then((c) => c.call(request, transfer));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.slots.map(async (s) => {
        s.cancel?.();
        await s.starting?.catch(() => undefined);
        await s.client?.close();
      }),
    );
  }

  private async pick(): Promise<WorkerClient<Request, Response, Info>> {
    if (this.closed) throw this.closedError();
    const live = this.leastLoaded();
    if (live) return live;
    const starting = this.slots.flatMap((s) => (s.starting ? [s.starting] : []));
    if (starting.length > 0) {
      await Promise.any(starting).catch(() => undefined); // a failed respawn is retried or given up: look again
      return this.pick();
    }
    const idle = this.slots.find((s) => this.canStart(s));
    if (idle) return this.launch(idle);
    throw this.broken!;
  }

  private leastLoaded(): WorkerClient<Request, Response, Info> | null {
    const live = this.slots.flatMap((s) => (s.client ? [s.client] : []));
    return live.length > 0 ? live.reduce((a, b) => (b.load < a.load ? b : a)) : null;
  }

  private canStart(slot: Slot<Request, Response, Info>): boolean {
    return !this.closed && !slot.givenUp && !slot.client && !slot.starting && (slot.death === null || this.options.respawn);
  }

  private launch(slot: Slot<Request, Response, Info>): Promise<WorkerClient<Request, Response, Info>> {
    const respawn = slot.death !== null;
    const pause = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, respawn ? backoffMs(slot.failures) : 0);
      slot.cancel = () => (clearTimeout(timer), reject(this.closedError()));
    });
    const starting = pause.then(() => WorkerClient.start<Request, Response, Info>(this.spec));
    slot.starting = starting;
    starting.then(
      (client) => {
        slot.starting = slot.cancel = null;
        if (this.closed) return void client.close();
        slot.client = client;
        slot.failures = 0;
        if (respawn) this.replaced++;
        client.whenDead((death) => this.died(slot, death));
        this.options.onChange?.();
      },
      (error: unknown) => {
        slot.starting = slot.cancel = null;
        if (!respawn || this.closed) return; // a first start's failure goes to its caller; the next call tries again
        if (++slot.failures < MAX_FAILED_STARTS) return void this.launch(slot).catch(() => undefined);
        slot.givenUp = new TagbooruError(
          'E_WORKER',
          `${this.spec.name} died and failed to start again ${MAX_FAILED_STARTS} times in a row, so no new one will be started (last failure: ${errorMessage(error)})`,
          { cause: error },
        );
        this.options.onChange?.();
      },
    );
    return starting;
  }

  private died(slot: Slot<Request, Response, Info>, death: TagbooruError): void {
    slot.client = null;
    slot.death = death;
    if (this.options.respawn && !this.closed) void this.launch(slot).catch(() => undefined);
    this.options.onChange?.();
  }

  private closedError(): TagbooruError {
    return new TagbooruError('E_WORKER', `${this.spec.name} pool was closed`);
  }
}
