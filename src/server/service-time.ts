/**
 * How long one image takes to serve, smoothed over recent work, and the `Retry-After` it implies. Durations are
 * service time only (handed to a worker → answered): a duration that included the wait in the queue would be
 * counted again for every image ahead, and a first one that included starting a worker would linger.
 */

/** Weight of the newest duration in the moving average. */
const SMOOTHING = 0.2;
/** Retry-After bounds, in seconds: a client asked to wait longer than this is better served by an error. */
export const RETRY_AFTER = { min: 1, max: 600 } as const;

export class ServiceTime {
  private seconds = 0;

  /** `unmeasured`: seconds per image to assume before any image has been served. */
  constructor(private readonly unmeasured: number) {}

  observe(seconds: number): void {
    if (!(seconds >= 0) || !Number.isFinite(seconds)) return;
    this.seconds = this.seconds === 0 ? seconds : (1 - SMOOTHING) * this.seconds + SMOOTHING * seconds;
  }

  /** Seconds per image as measured so far. */
  get perImage(): number {
    return this.seconds || this.unmeasured;
  }

  /** Whole seconds until `ahead` images are served by `workers` in parallel, within `RETRY_AFTER`. */
  retryAfter(ahead: number, workers = 1): number {
    const seconds = Math.ceil((ahead * this.perImage) / workers);
    return Math.min(RETRY_AFTER.max, Math.max(RETRY_AFTER.min, seconds));
  }
}
