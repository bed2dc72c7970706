/**
 * Mixup for distillation ("function matching", Beyer et al. 2022): some samples of an assembled batch become
 * a blend λ·a + (1 − λ)·b with another sample of the same batch, before the teacher sees the batch. The
 * teacher then labels an image no labelled sample shows, and the student learns the teacher's function there
 * too, in the same number of steps.
 *
 * A blend's labels follow the same rule as every augmentation's (label-rules.ts): what it cannot know becomes
 * unknown, never a made-up value. Where both images are known to agree the blend keeps it (neither has glasses:
 * the blend has none; both have long hair: it has long hair); where they disagree, or either is unknown, the
 * label is unknown and the teacher's term alone speaks for that tag.
 */
import type { Rng } from '../models/random.ts';

export interface MixableBatch {
  /** [batch × sampleSize] pixels, modified in place. */
  readonly x: Float32Array;
  /** [batch × tags], modified in place. */
  readonly labels: Float32Array;
  /** [batch × tags], 1 = known; modified in place. */
  readonly mask: Float32Array;
  readonly batchSize: number;
  readonly sampleSize: number;
  readonly tags: number;
}

/** What was mixed: for each blended sample, its partner and its own share λ (tests, logs). */
export interface Blend {
  readonly sample: number;
  readonly partner: number;
  readonly lambda: number;
}

/**
 * Blends each sample, with probability `share`, with a partner drawn from the rest of the batch, λ ~ U(0, 1).
 * Partners are taken from the batch as assembled, never from an earlier blend, so the result does not depend
 * on the order samples are visited. Every draw comes from `rng`: the same rng state gives the same batch.
 */
export function mixBatch(b: MixableBatch, share: number, rng: Rng): Blend[] {
  if (share <= 0 || b.batchSize < 2) return [];
  const plan: Blend[] = [];
  for (let i = 0; i < b.batchSize; i++) {
    if (rng.next() >= share) continue;
    const other = rng.int(b.batchSize - 1);
    plan.push({ sample: i, partner: other >= i ? other + 1 : other, lambda: rng.next() });
  }
  if (plan.length === 0) return plan;
  const x0 = b.x.slice(), labels0 = b.labels.slice(), mask0 = b.mask.slice();
  const { sampleSize: n, tags: t } = b;
  for (const { sample: i, partner: j, lambda } of plan) {
    const a = x0.subarray(i * n, (i + 1) * n), o = x0.subarray(j * n, (j + 1) * n), out = b.x.subarray(i * n, (i + 1) * n);
    for (let p = 0; p < n; p++) out[p] = lambda * a[p]! + (1 - lambda) * o[p]!;
    for (let k = 0; k < t; k++) {
      const ia = i * t + k, ib = j * t + k;
      const agree = mask0[ia] === 1 && mask0[ib] === 1 && labels0[ia] === labels0[ib];
      b.mask[ia] = agree ? 1 : 0;
      b.labels[ia] = agree ? labels0[ia]! : 0;
    }
  }
  return plan;
}
