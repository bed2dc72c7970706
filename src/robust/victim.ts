/**
 * The model under attack, seen in pixel space (RGB NHWC in [0, 1] at its input resolution): its logits from
 * the bundle's own model.onnx (what users run), and the margin loss with its input gradient from the
 * attack graph on the training weights (src/autodiff/input-gradient.ts).
 */
import { ATTACK_IO, LINF_STEP_IO, buildInputGradientGraph } from '../autodiff/input-gradient.ts';
import { TagbooruError } from '../errors.ts';
import { loadTrainingModel } from '../explain/variants.ts';
import type { PreprocessSpec } from '../image/spec.ts';
import type { Bundle, BundleManifest } from '../infer/bundle.ts';
import { ModelSession } from '../infer/session.ts';
import { nchwcBlockSize } from '../train/nchwc-probe.ts';
import type { GoalTerms } from './goals.ts';
import { logit } from './goals.ts';
import type { Box } from './linf-step.ts';
import { pixelMap, pixelsToInput } from './pixel-space.ts';

export interface Gradient {
  /** [n, T] */
  readonly logits: Float32Array;
  /** [n]: the margin loss of each image. */
  readonly loss: Float32Array;
  /** [n, H, W, 3]: ∂loss/∂x in pixel space. */
  readonly grad: Float32Array;
}

export interface Victim {
  readonly preprocess: PreprocessSpec;
  readonly tagCount: number;
  /** Whether `gradient` is available (the bundle carries its training weights). */
  readonly differentiable: boolean;
  logits(x: Float32Array, n: number): Promise<Float32Array>;
  gradient(x: Float32Array, n: number, terms: readonly GoalTerms[]): Promise<Gradient>;
  /** The loss at x and `pgd`'s next L∞ iterate from it, image i by eta[i], clipped to the box, in one run (absent: the gradient, then the step). */
  linfStep?(x: Float32Array, n: number, terms: readonly GoalTerms[], box: Box, eta: ArrayLike<number>): Promise<{ loss: Float32Array; next: Float32Array }>;
  close(): Promise<void>;
}

export interface VictimModels {
  readonly preprocess: PreprocessSpec;
  readonly tagCount: number;
  readonly inference: Uint8Array | string;
  readonly io: Pick<BundleManifest, 'input' | 'output'>;
  /** The attack graph on pixels (built with `pixels: pixelMap(preprocess)`), absent when the bundle has no training weights. */
  readonly attack?: Uint8Array;
  /** The same graph with the L∞ step (`linfStep`), built on first use: an attack without EOT or BPDA runs this one alone. */
  readonly attackWithStep?: () => Uint8Array;
  readonly threads?: number;
}

export async function openVictim(bundle: Bundle, o: { threads?: number; gradient: boolean }): Promise<Victim> {
  const m = bundle.manifest;
  let attack: Uint8Array | undefined;
  let attackWithStep: (() => Uint8Array) | undefined;
  if (o.gradient) {
    const { spec, weights } = await loadTrainingModel(bundle, 'a gradient attack (pgd, apgd)');
    const options = { batch: 'B', nchwcBlock: await nchwcBlockSize(), pixels: pixelMap(m.preprocess) };
    attack = buildInputGradientGraph(spec, weights, options).model;
    attackWithStep = () => buildInputGradientGraph(spec, weights, { ...options, linfStep: true }).model;
  }
  return createVictim({ preprocess: m.preprocess, tagCount: m.tags.length, inference: bundle.modelPath, io: m, attack, attackWithStep, threads: o.threads });
}

export async function createVictim(v: VictimModels): Promise<Victim> {
  const options = { threads: v.threads, spinning: false };
  const inference = await ModelSession.create(v.inference, options);
  const attack = v.attack ? await ModelSession.create(v.attack, options) : null;
  let stepping: Promise<ModelSession> | null = null;
  const { preprocess: spec, tagCount: T } = v;
  const pixels = spec.width * spec.height * 3;
  const fixed = typeof v.io.input.batch === 'number' ? v.io.input.batch : 0;
  const dims = (n: number) => (spec.layout === 'NHWC' ? [n, spec.height, spec.width, 3] : [n, 3, spec.height, spec.width]);
  const toLogit = v.io.output.activation === 'sigmoid';

  const attackFeeds = (x: Float32Array, n: number, terms: readonly GoalTerms[]) => {
    const stack = (key: keyof GoalTerms) => {
      const out = new Float32Array(n * T);
      terms.forEach((t, i) => out.set(t[key], i * T));
      return { data: out, dims: [n, T] };
    };
    return { [ATTACK_IO.x]: { data: x, dims: [n, spec.height, spec.width, 3] }, [ATTACK_IO.sign]: stack('sign'), [ATTACK_IO.offset]: stack('offset'), [ATTACK_IO.weight]: stack('weight') };
  };

  return {
    preprocess: spec,
    tagCount: T,
    differentiable: attack !== null,
    async logits(x, n) {
      const out = new Float32Array(n * T);
      // a model with a fixed batch runs in chunks of it, the last one padded
      const chunk = fixed || n;
      for (let start = 0; start < n; start += chunk) {
        const count = Math.min(chunk, n - start);
        const images = new Float32Array(chunk * pixels);
        images.set(x.subarray(start * pixels, (start + count) * pixels));
        const input = pixelsToInput(images, chunk, spec, spec.layout);
        const r = await inference.run({ [v.io.input.name]: { data: input, dims: dims(chunk) } }, [v.io.output.name]);
        const scores = r[v.io.output.name]!.data;
        for (let i = 0; i < count * T; i++) out[start * T + i] = toLogit ? logit(scores[i]!) : scores[i]!;
      }
      return out;
    },
    async gradient(x, n, terms) {
      if (!attack) throw noGradient();
      const r = await attack.run(attackFeeds(x, n, terms));
      return { logits: r[ATTACK_IO.logits]!.data, loss: r[ATTACK_IO.loss]!.data, grad: r[ATTACK_IO.inputGrad]!.data };
    },
    async linfStep(x, n, terms, box, eta) {
      if (!attack || !v.attackWithStep) throw noGradient();
      stepping ??= ModelSession.create(v.attackWithStep(), options);
      const image = [n, spec.height, spec.width, 3];
      const feeds = { ...attackFeeds(x, n, terms), [LINF_STEP_IO.lo]: { data: box.lo, dims: image }, [LINF_STEP_IO.hi]: { data: box.hi, dims: image }, [LINF_STEP_IO.eta]: { data: Float32Array.from(eta), dims: [n, 1, 1, 1] } };
      // the gradient stays in ONNX Runtime: only the loss and the next iterate come back
      const r = await (await stepping).run(feeds, [ATTACK_IO.loss, LINF_STEP_IO.next]);
      return { loss: r[ATTACK_IO.loss]!.data, next: r[LINF_STEP_IO.next]!.data };
    },
    async close() {
      await inference.release();
      await attack?.release();
      // a session that failed to open has said so to its caller already
      await (await stepping?.catch(() => null))?.release();
    },
  };
}

const noGradient = () => new TagbooruError('E_MODEL', 'this model has no training weights, so it has no input gradient: use --method square');
