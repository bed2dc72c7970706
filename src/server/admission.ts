/** A bounded number of requests in flight: one more is refused with 503 and a Retry-After estimate. */
import { HttpError } from './errors.ts';

export class Admission {
  inFlight = 0;

  constructor(
    private readonly limit: () => number,
    /** e.g. `tagging requests are in flight (queue size 64)` reads from `what` = `tagging`, `queue` = `queue size`. */
    private readonly what: { readonly requests: string; readonly queue: string },
    private readonly retryAfter: () => number,
  ) {}

  /** Claim a place, or refuse with 503; call the returned function once when done (extra calls are no-ops). */
  admit(): () => void {
    if (this.inFlight >= this.limit()) {
      throw new HttpError('E_BUSY', `the server is busy: ${this.inFlight} ${this.what.requests} requests are in flight (${this.what.queue} ${this.limit()})`, this.retryAfter());
    }
    this.inFlight++;
    let released = false;
    return () => {
      if (!released) this.inFlight--;
      released = true;
    };
  }
}
