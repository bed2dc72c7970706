/**
 * The L∞ step of `pgd` and its projection, x' = clip(x − η·sign(g), lo, hi) for every pixel of a batch, run by
 * ONNX Runtime: the same nodes as the training step's in-graph attack (`signedStep`). An undefended PGD takes the
 * step inside the attack graph instead (`linfStep` in src/robust/victim.ts); this one serves apgd, EOT and BPDA.
 * NOTE: 3.3 ms of CPU per batch of 8 at 224 px, where the branch-free JavaScript sweep took 7–10 ms: V8 checks the
 * bounds of five typed arrays per pixel and does not vectorise (bench/attack-step.ts; docs/adversarial.md)
 */
import { signedStep } from '../autodiff/adversarial.ts';
import { Graph, type Value } from '../graph/index.ts';
import { neg } from '../graph/math.ts';
import { ModelSession } from '../infer/session.ts';

/** The box of each pixel: [max(0, x0 − ε), min(1, x0 + ε)], computed once per attack. */
export interface Box {
  readonly lo: Float32Array;
  readonly hi: Float32Array;
}

export interface LinfStepper {
  /** x [n·d] one step down `grad` [n·d], image i by eta[i], clipped to the box. */
  step(x: Float32Array, grad: Float32Array, box: Box, eta: ArrayLike<number>): Promise<Float32Array>;
  close(): Promise<void>;
}

const IO = { x: 'x', grad: 'grad', lo: 'lo', hi: 'hi', eta: 'eta', next: 'next' } as const;

function stepGraph(): Uint8Array {
  const g = new Graph('linf_step');
  const shape = ['n', 'd'];
  const [x, grad, lo, hi] = [IO.x, IO.grad, IO.lo, IO.hi].map((name) => g.input(name, 'float32', shape)) as [Value, Value, Value, Value];
  const eta = g.input(IO.eta, 'float32', ['n', 1]);
  g.output(signedStep(g, x, grad, neg(g, eta), lo, hi), IO.next);
  return g.toModel('the L∞ step of PGD and its projection');
}

export async function openLinfStepper(): Promise<LinfStepper> {
  // one thread: a second saves 0.7 ms of wall time per batch of 8 at 224 px and costs 0.4 ms more CPU
  const session = await ModelSession.create(stepGraph(), { threads: 1, spinning: false });
  return {
    async step(x, grad, box, eta) {
      const n = eta.length, d = x.length / n;
      const dims = [n, d];
      const r = await session.run({
        [IO.x]: { data: x, dims }, [IO.grad]: { data: grad, dims }, [IO.lo]: { data: box.lo, dims }, [IO.hi]: { data: box.hi, dims },
        [IO.eta]: { data: Float32Array.from(eta), dims: [n, 1] },
      });
      return r[IO.next]!.data;
    },
    close: () => session.release(),
  };
}
