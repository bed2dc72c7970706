/**
 * Randomised member selection (MULDEF, arXiv 1809.00065): an ensemble bundle in `random` mode answers each
 * image with one member's probabilities, drawn afresh per image. The draw is seedable so a run can be replayed;
 * an attack takes the expectation over it (EOT), since every member's row is in the graph's output.
 */
import type { EnsembleManifest } from './bundle.ts';

/** A member index drawn in proportion to the members' weights. */
export function drawMember(weights: readonly number[], uniform: () => number): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let u = uniform() * total;
  for (let k = 0; k < weights.length; k++) {
    u -= weights[k]!;
    if (u < 0) return k;
  }
  return weights.length - 1;
}

/**
 * Each image's row of the drawn member, from the stacked [n, members, tags] output. The draws go to the images
 * in `order` (batch slots in input order: a batch is filled as images finish decoding), so a seed replays a run.
 */
export function pickMembers(stacked: Float32Array, n: number, ensemble: EnsembleManifest, uniform: () => number, order?: readonly number[]): Float32Array {
  const members = ensemble.members.length, tags = stacked.length / (n * members);
  const weights = ensemble.members.map((m) => m.weight);
  const out = new Float32Array(n * tags);
  for (let j = 0; j < n; j++) {
    const i = order?.[j] ?? j, k = drawMember(weights, uniform);
    out.set(stacked.subarray((i * members + k) * tags, (i * members + k + 1) * tags), i * tags);
  }
  return out;
}
