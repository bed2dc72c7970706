/**
 * Decoded training images kept in memory from one epoch to the next, up to a byte budget. Every epoch decodes
 * every image again otherwise, and on small images the decoder's fixed cost per call is the data thread's
 * largest item: in a CPU profile of a 64-px run, decoding (sharp and the file reads) took 40 % of its busy time,
 * the whole augmentation 35 % (docs/training.md, "Decoded images kept across epochs").
 * Images are kept as they first arrive until the budget is spent and never evicted: an epoch visits them in a
 * random order, so no eviction policy does better than keeping a fixed subset, and a run's memory stays flat.
 * Decoding is deterministic, so a cached image is the image: samples, and a resumed run, are unchanged.
 */
import os from 'node:os';
import type { DecodedFile } from '../image/decode.ts';

/** The default budget: an eighth of the machine's memory, at most 2 GiB (the default model's 15,000 training images, 224 × 224 RGB, take 2.3 GB). */
export function defaultDecodedBudget(totalMemory = os.totalmem()): number {
  return Math.min(2 ** 31, Math.floor(totalMemory / 8));
}

export class DecodedCache {
  private readonly entries = new Map<string, DecodedFile>();
  private used = 0;

  constructor(readonly budget: number) {}

  /** The image at `path`, decoded by `decode` unless it is kept; a failed decode is not kept (it fails again, and is reported again). */
  async get(path: string, decode: (path: string) => Promise<DecodedFile>): Promise<DecodedFile> {
    const kept = this.entries.get(path);
    if (kept) return kept;
    const image = await decode(path);
    const bytes = image.data.byteLength;
    if (!this.entries.has(path) && this.used + bytes <= this.budget) {
      this.entries.set(path, image);
      this.used += bytes;
    }
    return image;
  }

  get stats(): { images: number; bytes: number } {
    return { images: this.entries.size, bytes: this.used };
  }
}
