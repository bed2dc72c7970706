/** Runs training-step graphs in ONNX Runtime and compares their gradients with float64 finite differences. */
import { FEED, FETCH, buildTrainingStep, type StepGraphOptions } from '../../src/autodiff/step-graph.ts';
import { ModelSession, type TensorData } from '../../src/infer/session.ts';
import { exclusiveGroupsOf } from '../../src/models/exclusive.ts';
import { Rng } from '../../src/models/random.ts';
import { inputLayer, type ModelSpec, type Weights } from '../../src/models/spec.ts';
import { variables } from '../../src/models/shapes.ts';
import { centralDifference, referenceObjective, toFloat64, type LossName, type ReferenceTeacher } from '../oracle/training.ts';

/** Random weights with every BN variable randomised, so no zero-gamma branch hides a wrong rule. */
export function randomWeights(spec: ModelSpec, seed: number): Weights {
  const rng = new Rng(seed);
  const w: Weights = new Map();
  for (const v of variables(spec)) {
    const n = v.shape.reduce((p, d) => p * d, 1);
    const fanIn = v.shape.length === 4 ? v.shape[1]! * v.shape[2]! * v.shape[3]! : v.shape[0]!;
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (v.key.endsWith('/gamma')) data[i] = rng.uniform(0.5, 1.5);
      else if (v.key.endsWith('/moving_variance')) data[i] = rng.uniform(0.5, 2);
      else if (v.key.endsWith('/kernel')) data[i] = rng.normal() * Math.sqrt(2 / fanIn);
      else data[i] = rng.uniform(-0.3, 0.3);
    }
    w.set(v.key, data);
  }
  return w;
}

export interface Case {
  readonly spec: ModelSpec;
  readonly batch: number;
  readonly loss?: LossName;
  readonly seed?: number;
  readonly inputGradient?: boolean;
  /** Fraction of label entries made unknown (loss mask 0); default none. */
  readonly unknown?: number;
  /** Distil from random teacher logits, the teacher knowing a `known` fraction of the entries. */
  readonly distillation?: { readonly alpha: number; readonly temperature: number; readonly known: number };
}

export interface Prepared {
  readonly weights: Weights;
  readonly x: Float32Array;
  readonly labels: Float32Array;
  readonly mask: Float32Array;
  readonly teacher?: ReferenceTeacher;
  readonly feeds: Record<string, TensorData>;
  readonly outputs: Record<string, TensorData>;
}

export async function runGradients(c: Case, extra: Partial<StepGraphOptions> = {}): Promise<Prepared> {
  const rng = new Rng(c.seed ?? 1);
  const weights = randomWeights(c.spec, (c.seed ?? 1) + 100);
  const [h, w, ch] = inputLayer(c.spec).shape;
  const x = Float32Array.from({ length: c.batch * h * w * ch }, () => rng.uniform(0, 1));
  const tags = outputWidth(c.spec);
  const labels = Float32Array.from({ length: c.batch * tags }, () => (rng.next() < 0.4 ? 1 : 0));
  // an exclusive group's labels are a category: one member, or none of them
  for (const group of exclusiveGroupsOf(c.spec)) {
    for (let n = 0; n < c.batch; n++) {
      const pick = rng.int(group.length + 1);
      group.forEach((k, j) => (labels[n * tags + k] = j === pick ? 1 : 0));
    }
  }
  const mask = Float32Array.from({ length: c.batch * tags }, () => (rng.next() < (c.unknown ?? 0) ? 0 : 1));
  const d = c.distillation;
  const teacher = d && {
    ...d,
    logits: Float32Array.from({ length: c.batch * tags }, () => 3 * rng.normal()),
    mask: Float32Array.from({ length: c.batch * tags }, () => (rng.next() < d.known ? 1 : 0)),
  };
  const step = buildTrainingStep(c.spec, { batch: c.batch, loss: c.loss ?? 'binary_crossentropy', optimizer: { name: 'sgd' }, outputs: 'gradients', inputGradient: c.inputGradient, distillation: d, ...extra });
  const session = await ModelSession.create(step.model, { threads: 1 });
  const feeds: Record<string, TensorData> = { [FEED.x]: { data: x, dims: [c.batch, h, w, ch] }, [FEED.labels]: { data: labels, dims: [c.batch, tags] }, [FEED.mask]: { data: mask, dims: [c.batch, tags] } };
  if (teacher) {
    feeds[FEED.teacher] = { data: teacher.logits, dims: [c.batch, tags] };
    feeds[FEED.teacherMask] = { data: teacher.mask, dims: [c.batch, tags] };
  }
  for (const v of step.variables) feeds[FEED.weight(v.key)] = { data: weights.get(v.key)!, dims: v.shape };
  const outputs = await session.run(feeds);
  await session.release();
  return { weights, x, labels, mask, teacher, feeds, outputs };
}

export function outputWidth(spec: ModelSpec): number {
  const last = spec.layers.filter((l) => l.kind === 'conv' || l.kind === 'dense').at(-1)!;
  return last.kind === 'conv' ? last.filters : last.kind === 'dense' ? last.units : 0;
}

export interface GradError {
  readonly key: string;
  readonly normRel: number;
  readonly maxRel: number;
  readonly maxGrad: number;
  readonly maxAbsDiff: number;
}

/** normRel = ‖a − n‖/‖n‖ and maxRel = max|a − n| / max(|a|, |n|, 1e-3·max|n|) over sampled entries. */
export function compare(analytic: ArrayLike<number>, numeric: ArrayLike<number>): { normRel: number; maxRel: number } {
  let num = 0, den = 0, maxN = 0;
  for (let i = 0; i < numeric.length; i++) maxN = Math.max(maxN, Math.abs(numeric[i]!));
  let maxRel = 0;
  for (let i = 0; i < numeric.length; i++) {
    const a = analytic[i]!, n = numeric[i]!;
    num += (a - n) ** 2;
    den += n * n;
    maxRel = Math.max(maxRel, Math.abs(a - n) / Math.max(Math.abs(a), Math.abs(n), 1e-3 * maxN, 1e-12));
  }
  return { normRel: den === 0 ? Math.sqrt(num) : Math.sqrt(num / den), maxRel };
}

/** Finite differences of the float64 loss for sampled entries of every trainable tensor (and the input). */
export function checkAll(c: Case, p: Prepared, samples = 6): GradError[] {
  const rng = new Rng(7);
  const w64 = toFloat64(p.weights);
  const x64 = Float64Array.from(p.x);
  const loss = c.loss ?? 'binary_crossentropy';
  const f = () => referenceObjective(c.spec, w64, x64, c.batch, p.labels, loss, p.mask, p.teacher);
  const targets: [string, Float64Array, ArrayLike<number>][] = variables(c.spec).filter((v) => v.trainable).map((v) => [v.key, w64.get(v.key)!, p.outputs[FETCH.grad(v.key)]!.data]);
  if (c.inputGradient) targets.push(['input', x64, p.outputs[FETCH.inputGrad]!.data]);
  return targets.map(([key, values, grad]) => {
    const idx = values.length <= samples ? [...values.keys()] : Array.from({ length: samples }, () => rng.int(values.length));
    const numeric = idx.map((i) => centralDifference(values, i, f));
    const analytic = idx.map((i) => grad[i]!);
    const maxAbsDiff = Math.max(...analytic.map((a, i) => Math.abs(a - numeric[i]!)));
    return { key, ...compare(analytic, numeric), maxGrad: Math.max(...analytic.map(Math.abs)), maxAbsDiff };
  });
}
