/**
 * The model behind an input-transformation defence, as the attack sees it (reference/robustness.md §b.1):
 * - naive: gradients of the undefended model; only the evaluation goes through the defence;
 * - adaptive: the defence runs in the forward pass; the gradient goes back through its `backward` when it has
 *   one, else through the identity (BPDA, straight-through); a randomised defence is averaged over `eot`
 *   draws (EOT), each draw's backward replaying the same random numbers as its forward.
 */
import type { Defence, DefenceImage } from '../image/defence.ts';
import type { GoalTerms } from './goals.ts';
import type { Gradient, Victim } from './victim.ts';

export interface ThreatModel {
  readonly defence: Defence | null;
  /** Attack through the defence (BPDA/backward, EOT) rather than the undefended model. */
  readonly adaptive: boolean;
  /** Draws per gradient for a randomised defence under the adaptive attack. */
  readonly eot: number;
  readonly rng: () => number;
}

export const UNDEFENDED: ThreatModel = { defence: null, adaptive: false, eot: 1, rng: Math.random };

/** An rng that records its draws, and one that replays them: a defence's backward sees its forward's draw. */
function recorder(rng: () => number): { rng: () => number; replay: () => () => number } {
  const draws: number[] = [];
  return {
    rng: () => {
      const v = rng();
      draws.push(v);
      return v;
    },
    replay: () => {
      let i = 0;
      return () => (i < draws.length ? draws[i++]! : rng());
    },
  };
}

function image(x: Float32Array, i: number, spec: { width: number; height: number }): DefenceImage {
  const size = spec.width * spec.height * 3;
  return { data: x.subarray(i * size, (i + 1) * size), width: spec.width, height: spec.height };
}

/** Each image through the defence (one draw each), with the replayable draws for the backward. */
async function defend(defence: Defence, x: Float32Array, n: number, victim: Victim, rng: () => number): Promise<{ x: Float32Array; replays: (() => () => number)[] }> {
  const size = victim.preprocess.width * victim.preprocess.height * 3, out = new Float32Array(n * size);
  const replays: (() => () => number)[] = [];
  for (let i = 0; i < n; i++) {
    const r = recorder(rng);
    const d = await defence.apply(image(x, i, victim.preprocess), r.rng);
    out.set(d.data, i * size);
    replays.push(r.replay);
  }
  return { x: out, replays };
}

/** The logits the defended model gives (one draw of a randomised defence). */
export async function defendedLogits(victim: Victim, x: Float32Array, n: number, threat: ThreatModel): Promise<Float32Array> {
  if (!threat.defence) return victim.logits(x, n);
  return victim.logits((await defend(threat.defence, x, n, victim, threat.rng)).x, n);
}

/** Whether the attack's gradient is the undefended model's: no defence, or a naive attack on one. */
export function undefendedGradient(threat: ThreatModel): boolean {
  return !threat.defence || !threat.adaptive;
}

/** The loss and its gradient the attacker follows under `threat`; `loss` and `grad` are means over the EOT draws. */
export async function attackGradient(victim: Victim, x: Float32Array, n: number, terms: readonly GoalTerms[], threat: ThreatModel): Promise<Gradient> {
  const { defence } = threat;
  if (!defence || undefendedGradient(threat)) return victim.gradient(x, n, terms);
  const draws = defence.randomised ? threat.eot : 1;
  const size = victim.preprocess.width * victim.preprocess.height * 3;
  const grad = new Float32Array(n * size), loss = new Float32Array(n);
  let logits: Float32Array = new Float32Array(0);
  for (let k = 0; k < draws; k++) {
    const d = await defend(defence, x, n, victim, threat.rng);
    const r = await victim.gradient(d.x, n, terms);
    for (let i = 0; i < n; i++) {
      const upstream = r.grad.subarray(i * size, (i + 1) * size);
      const g = defence.backward ? await defence.backward(image(x, i, victim.preprocess), upstream, d.replays[i]!()) : upstream;
      for (let j = 0; j < size; j++) grad[i * size + j]! += g[j]! / draws;
      loss[i]! += r.loss[i]! / draws;
    }
    logits = r.logits;
  }
  return { logits, loss, grad };
}
