/**
 * Tiny member bundles built with the graph builder: different tags, input sizes, layouts and heads (a sigmoid
 * output, a logits output, a graph that hides its logits), and the TypeScript oracle of their combination.
 */
import { Graph, conv2d, dense, globalAvgPool, mul, relu, sigmoid, transpose } from '../../src/graph/index.ts';
import { presetSpec, BUNDLE_FORMAT, BUNDLE_VERSION, writeBundle, type BundleManifest } from '../../src/infer/bundle.ts';
import type { PreprocessSpec } from '../../src/image/spec.ts';
import { Rng } from '../../src/models/random.ts';

export interface TinyMember {
  readonly manifest: BundleManifest;
  readonly model: Uint8Array;
}

export type Head = 'sigmoid' | 'logits' | 'hidden';

export function tinyMember(name: string, tags: readonly string[], spec: PreprocessSpec, head: Head, seed: number, inputName = 'input'): TinyMember {
  const rng = new Rng(seed);
  const randn = (n: number, scale: number) => Float32Array.from({ length: n }, () => rng.normal() * scale);
  const g = new Graph(name);
  const nchw = spec.layout === 'NCHW';
  const x = g.input(inputName, 'float32', nchw ? ['N', 3, spec.height, spec.width] : ['N', spec.height, spec.width, 3]);
  const t = nchw ? x : transpose(g, x, [0, 3, 1, 2]);
  const c = relu(g, conv2d(g, t, g.initializer(g.fresh('w'), randn(6 * 27, 0.5), [6, 3, 3, 3]), g.initializer(g.fresh('b'), randn(6, 0.1), [6])));
  const logits = dense(g, globalAvgPool(g, c), g.initializer(g.fresh('w2'), randn(6 * tags.length, 1.5), [6, tags.length]), g.initializer(g.fresh('b2'), randn(tags.length, 0.5), [tags.length]));
  // `hidden`: the probabilities come out of a Mul after the Sigmoid, so the logits must be recovered from them
  const out = head === 'logits' ? logits : head === 'sigmoid' ? sigmoid(g, logits) : mul(g, sigmoid(g, logits), g.scalar(1));
  g.output(out, 'scores');
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT, version: BUNDLE_VERSION, name, architecture: `tiny-${head}`, model: 'model.onnx',
    input: { name: inputName, batch: 'dynamic' }, output: { name: 'scores', activation: head === 'logits' ? 'logits' : 'sigmoid' },
    preset: 'custom', preprocess: spec, tags: tags.map((t) => ({ name: t, category: 'general' })),
    thresholds: { default: 0.5, tags: { [tags[0]!]: 0.3 } }, provenance: { createdBy: 'test', seed },
  };
  return { manifest, model: g.toModel() };
}

export const SPEC_A = presetSpec('deepdanbooru', { width: 16, height: 16 }); // NHWC 16×16, 0–1
export const SPEC_B = presetSpec('joytag', { width: 20, height: 12 }); // NCHW 20×12, CLIP normalisation

/** Three members: A and C share a preprocessing; B has its own size, layout and normalisation; the tag lists overlap. */
export function threeMembers(): TinyMember[] {
  return [
    tinyMember('a', ['a', 'b', 'c', 'd'], SPEC_A, 'sigmoid', 1),
    tinyMember('b', ['c', 'd', 'e'], SPEC_B, 'logits', 2, 'pixels'),
    tinyMember('c', ['b', 'a', 'f'], SPEC_A, 'hidden', 3),
  ];
}

export async function writeMembers(dir: string, members: readonly TinyMember[]): Promise<string[]> {
  return Promise.all(members.map(async (m) => (await writeBundle(`${dir}/${m.manifest.name}`, m.manifest, m.model)).dir));
}

const EPS = 1e-7;
const logit = (p: number) => {
  const q = Math.min(1 - EPS, Math.max(EPS, p));
  return Math.log(q) - Math.log(1 - q);
};
const sigmoidOf = (z: number) => 1 / (1 + Math.exp(-z));

/**
 * The oracle: each member's probabilities (one image) by tag name, combined over the members that know each tag
 * with their weights renormalised, as logits or probabilities.
 */
export function combineInTs(perMember: readonly Map<string, number>[], weights: readonly number[], union: readonly string[], mode: 'logit-mean' | 'prob-mean'): number[] {
  return union.map((tag) => {
    let total = 0, sum = 0;
    perMember.forEach((m, k) => {
      const p = m.get(tag);
      if (p === undefined) return;
      total += weights[k]!;
      sum += weights[k]! * (mode === 'logit-mean' ? logit(p) : p);
    });
    return mode === 'logit-mean' ? sigmoidOf(sum / total) : sum / total;
  });
}
