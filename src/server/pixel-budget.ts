/**
 * Decoded pixels for the whole server: a request reserves the pixels its images declare in their headers before
 * any of them is decoded, and gives each image's share back when that image's decoding has actually finished
 * (not when the request gives up), so the figure in flight is the memory decoding really holds. A request above
 * either limit can never run and is refused with 413; one that fits later waits its turn, first come first served,
 * until its signal aborts (its deadline: 503 with Retry-After).
 */
import { HttpError } from './errors.ts';

export interface PixelLimits {
  /** Most pixels one request's images may declare together. */
  readonly perRequest: number;
  /** Most pixels reserved by all requests together. */
  readonly inFlight: number;
}

export interface Reservation {
  /** Give back `pixels` of this reservation (an image's share, once it is decoded or dropped). */
  release(pixels: number): void;
}

interface Waiter {
  readonly pixels: number;
  readonly grant: () => void;
}

const count = (n: number) => n.toLocaleString('en-US');

export class PixelBudget {
  /** Pixels reserved now: images waiting to decode or decoding. */
  reserved = 0;
  private readonly waiting: Waiter[] = [];

  constructor(private readonly limits: PixelLimits) {}

  /** Reserve the sum of `pixels` (one figure per image), waiting for room; refuses at once a request that can never fit. */
  reserve(pixels: readonly number[], signal: AbortSignal): Promise<Reservation> {
    const total = pixels.reduce((a, b) => a + b, 0);
    const { perRequest, inFlight } = this.limits;
    if (total > perRequest) {
      return Promise.reject(new HttpError('E_TOO_LARGE', `the images declare ${count(total)} pixels together, above the limit of ${count(perRequest)} pixels per request (--max-pixels-per-request)`));
    }
    if (total > inFlight) {
      return Promise.reject(new HttpError('E_TOO_LARGE', `the images declare ${count(total)} pixels together, above the server's limit of ${count(inFlight)} pixels decoding at once (--max-pixels-in-flight)`));
    }
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    if (this.waiting.length === 0 && this.reserved + total <= inFlight) return Promise.resolve(this.take(total));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        pixels: total,
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve(this.take(total));
        },
      };
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        reject(signal.reason as Error);
        this.grantWaiting(); // a large request leaving the head of the line may let smaller ones in
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private take(total: number): Reservation {
    this.reserved += total;
    let left = total;
    return {
      release: (pixels) => {
        const given = Math.min(pixels, left);
        left -= given;
        this.reserved -= given;
        if (given > 0) this.grantWaiting();
      },
    };
  }

  private grantWaiting(): void {
    while (this.waiting.length > 0 && this.reserved + this.waiting[0]!.pixels <= this.limits.inFlight) this.waiting.shift()!.grant();
  }
}
