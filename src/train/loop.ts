/**
 * The training loop: epochs over a deterministic permutation, batches assembled (with a teacher's soft
 * targets, when distilling) while the previous step runs, checkpoints every N steps. The permutation of
 * epoch e is a function of (seed, e) and each sample's augmentation of (seed, e, position), and the teacher
 * is a function of the batch (mixup's blends of (seed, epoch, batch start)), so a resumed run sees exactly
 * what an uninterrupted one would.
 */
import { TagbooruError } from '../errors.ts';
import { Rng } from '../models/random.ts';
import { mixBatch } from './mixup.ts';
import type { SoftTargets, Trainer } from './trainer.ts';

/** Keeps a batch's blend draws apart from its samples' augmentation draws, which share (seed, epoch, position). */
const MIXUP_SALT = 0x6d697875;

export interface Sample {
  /** height·width·3 floats, NHWC, as the model takes them. */
  readonly x: Float32Array;
  readonly labels: Float32Array;
  /** 1 where a label is known, 0 where an augmentation made it unknown; absent, every label is known. */
  readonly mask?: Float32Array;
}

export interface TrainingData {
  readonly size: number;
  /** A sample, or null when it cannot be used (reported and skipped); `rng` drives its augmentation. */
  load(index: number, rng: Rng): Promise<Sample | null>;
}

export interface LoopPosition {
  epoch: number;
  /** Position in the epoch's permutation. */
  offset: number;
  skipped: number;
}

export interface LoopProgress {
  readonly epoch: number;
  readonly step: number;
  readonly loss: number;
  readonly samples: number;
  readonly position: LoopPosition;
  /** With `probabilities: true`: the batch's predictions and labels, [batch × tags]. */
  readonly probs?: Float32Array;
  readonly labels?: Float32Array;
  readonly mask?: Float32Array;
}

export interface LoopOptions {
  readonly trainer: Trainer;
  readonly data: TrainingData;
  readonly epochs: number;
  readonly batchSize: number;
  readonly sampleSize: number;
  readonly tags: number;
  readonly seed: number;
  /** Learning rate for an epoch (DeepDanbooru's learning_rates table, or a constant). */
  readonly learningRate: (epoch: number, step: number) => number;
  /** Save a checkpoint carrying `position` (called every `checkpointEvery` steps and after each epoch). */
  readonly checkpoint?: (position: LoopPosition) => Promise<void>;
  /** Steps between checkpoints. */
  readonly checkpointEvery?: number;
  /** Return each batch's probabilities to `onStep` (training-set precision and recall). */
  readonly probabilities?: boolean;
  /** Resume from this position (read from a checkpoint's extra). */
  readonly resume?: LoopPosition;
  readonly onStep?: (p: LoopProgress) => void | Promise<void>;
  readonly onEpochEnd?: (epoch: number) => Promise<void> | void;
  /** Stop after this many steps in total (tests, time-boxed runs). */
  readonly maxSteps?: number;
  readonly onSkip?: (index: number) => void;
  /**
   * A teacher's soft targets for an assembled batch (distillation): called as the batch is assembled, so it
   * runs while the previous step does. It must copy `x`, which goes on to the training worker.
   */
  readonly teacher?: (x: Float32Array) => Promise<SoftTargets>;
  /** With a teacher: the share of each batch's samples blended with another before the teacher sees it (mixup.ts). */
  readonly mixup?: number;
}

export function permutation(size: number, seed: number, epoch: number): Uint32Array {
  const order = Uint32Array.from({ length: size }, (_, i) => i);
  const rng = Rng.derived(seed, epoch, 0x7f4a7c15);
  for (let i = size - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/**
 * A sample's augmentation draws, a function of (seed, epoch, position) alone. Hashed: with the three as raw
 * state words every sample's first two draws were nearly 0 (every crop taken at its smallest area, every
 * DeepDanbooru warp at its smallest scale and first angle).
 */
export function sampleRng(seed: number, epoch: number, position: number): Rng {
  return Rng.derived(seed, epoch, position);
}

export async function runTrainingLoop(o: LoopOptions): Promise<LoopPosition> {
  if (o.data.size < o.batchSize) throw new TagbooruError('E_USAGE', `the training set has ${o.data.size} samples, fewer than one batch of ${o.batchSize}`);
  const pos: LoopPosition = o.resume ? { ...o.resume } : { epoch: 0, offset: 0, skipped: 0 };
  let step = (await o.trainer.counters()).step;
  let stepsThisRun = 0;

  const assemble = async (order: Uint32Array, from: number) => {
    // fill one batch from `from`, skipping unusable samples; returns where the next batch starts
    const x = new Float32Array(o.batchSize * o.sampleSize), labels = new Float32Array(o.batchSize * o.tags);
    const mask = new Float32Array(o.batchSize * o.tags).fill(1);
    let filled = 0, at = from, skipped = 0;
    while (filled < o.batchSize && at < order.length) {
      const want = Math.min(o.batchSize - filled, order.length - at);
      const got = await Promise.all(Array.from({ length: want }, (_, k) => o.data.load(order[at + k]!, sampleRng(o.seed, pos.epoch, at + k))));
      got.forEach((s, k) => {
        if (!s) {
          skipped++;
          o.onSkip?.(order[at + k]!);
        } else if (filled < o.batchSize) {
          x.set(s.x, filled * o.sampleSize);
          labels.set(s.labels, filled * o.tags);
          if (s.mask) mask.set(s.mask, filled * o.tags);
          filled++;
        }
      });
      at += want;
    }
    const full = filled === o.batchSize;
    if (full && o.teacher && o.mixup) mixBatch({ x, labels, mask, batchSize: o.batchSize, sampleSize: o.sampleSize, tags: o.tags }, o.mixup, Rng.derived(o.seed, pos.epoch, from, MIXUP_SALT));
    const teacher = full && o.teacher ? await o.teacher(x) : undefined;
    return { x, labels, mask, teacher, full, next: at, skipped };
  };

  while (pos.epoch < o.epochs) {
    const order = permutation(o.data.size, o.seed, pos.epoch);
    let batch = await assemble(order, pos.offset);
    while (batch.full) {
      const lr = o.learningRate(pos.epoch, step);
      // the step takes the originals (transferred to the worker)
      const labels = o.probabilities ? batch.labels.slice() : undefined, mask = o.probabilities ? batch.mask.slice() : undefined;
      const running = o.trainer.step(batch.x, batch.labels, lr, { probs: o.probabilities, mask: batch.mask, teacher: batch.teacher });
      const nextStart = batch.next;
      const prefetch = assemble(order, nextStart); // the next batch loads while this step runs
      const { loss, probs } = await running;
      step++;
      stepsThisRun++;
      pos.offset = nextStart;
      pos.skipped += batch.skipped;
      await o.onStep?.({ epoch: pos.epoch, step, loss, samples: o.batchSize, position: { ...pos }, probs, labels, mask });
      if (o.checkpoint && o.checkpointEvery && step % o.checkpointEvery === 0) await o.checkpoint({ ...pos });
      batch = await prefetch;
      if (o.maxSteps !== undefined && stepsThisRun >= o.maxSteps) return pos;
    }
    pos.skipped += batch.skipped; // the tail that does not fill a batch is dropped, as Keras' last slice is not
    pos.epoch++;
    pos.offset = 0;
    await o.onEpochEnd?.(pos.epoch);
    await o.checkpoint?.({ ...pos });
  }
  return pos;
}
