/**
 * Test-time augmentation baked into a bundle's graph: each image input becomes its views (the image, its mirror
 * image, rescaled copies) stacked along the batch, the model runs once on batch × views, and the views' scores
 * are combined as an ensemble's members are (src/compose/combine.ts). Works on any bundle, ensembles included.
 */
import { TagbooruError, invalidOption } from '../errors.ts';
import { decodeModel } from '../graph/index.ts';
import { encodeModel, opsetOf } from '../graph/surgery.ts';
import type { BundleManifest, CombineMode, TtaManifest } from '../infer/bundle.ts';
import { modelInputs } from '../infer/model-io.ts';
import type { PreprocessSpec } from '../image/spec.ts';
import { combineParts, scoresOf, type Scores } from './combine.ts';
import { Emitter } from './emit.ts';
import { renameValue } from './merge.ts';

export interface TtaOptions {
  readonly flip: boolean;
  readonly scales: readonly number[];
  /** How the views are combined: `logit-mean` (default) or `prob-mean`. */
  readonly combine?: CombineMode;
}

const SCALE_RANGE = [0.25, 4] as const;

/** `flip`, `scales=0.9:1.1`, or both comma-separated: the views besides the image itself. */
export function parseTta(option: string, raw: string): TtaOptions {
  let flip = false;
  let scales: number[] = [];
  const valid = 'flip and/or scales=s1:s2:… (each 0.25–4, not 1)';
  for (const item of raw.split(',').map((s) => s.trim())) {
    if (item === 'flip') flip = true;
    else if (item.startsWith('scales=')) {
      scales = item.slice('scales='.length).split(':').map(Number);
      if (scales.length === 0 || scales.some((s) => !(s >= SCALE_RANGE[0] && s <= SCALE_RANGE[1]) || s === 1)) throw invalidOption(option, valid, raw);
    } else throw invalidOption(option, valid, raw);
  }
  if (!flip && scales.length === 0) throw invalidOption(option, valid, raw);
  return { flip, scales };
}

/** The image's views for an input of `spec`, each the input's own shape: [x, mirror(x), scaled(x)…]. */
function views(e: Emitter, x: string, spec: PreprocessSpec, tta: TtaOptions): string[] {
  const [hAxis, wAxis] = spec.layout === 'NCHW' ? [2, 3] : [1, 2];
  const out = [x];
  // Slice with step −1 from the last column to before the first: the width axis reversed, exactly
  if (tta.flip) out.push(e.node('Slice', [x, e.ints([-1]), e.ints([-(2 ** 63)]), e.ints([wAxis]), e.ints([-1])], {}, 'flipped'));
  for (const s of tta.scales) {
    const [h, w] = [Math.max(1, Math.round(spec.height * s)), Math.max(1, Math.round(spec.width * s))];
    const n = e.node('Slice', [e.node('Shape', [x]), e.ints([0]), e.ints([1])], {}, 'batch');
    const rest = spec.layout === 'NCHW' ? [3, h, w] : [h, w, 3];
    const sizes = e.node('Concat', [n, e.ints(rest)], { axis: 0 }, 'sizes');
    const empty = e.floats([], [0], 'empty');
    const resized = e.node('Resize', [x, empty, empty, sizes], { mode: 'linear' }, 'rescaled');
    if (s > 1) {
      // centre crop back to the input size
      const [top, left] = [Math.floor((h - spec.height) / 2), Math.floor((w - spec.width) / 2)];
      out.push(e.node('Slice', [resized, e.ints([top, left]), e.ints([top + spec.height, left + spec.width]), e.ints([hAxis, wAxis])], {}, 'cropped'));
    } else {
      // pad back to the input size with the border's own values
      const [top, left] = [Math.floor((spec.height - h) / 2), Math.floor((spec.width - w) / 2)];
      const begin = [0, 0, 0, 0], end = [0, 0, 0, 0];
      [begin[hAxis], begin[wAxis], end[hAxis], end[wAxis]] = [top, left, spec.height - h - top, spec.width - w - left];
      out.push(e.node('Pad', [resized, e.ints([...begin, ...end])], { mode: 'edge' }, 'padded'));
    }
  }
  return out;
}

export function ttaManifest(tta: TtaOptions): TtaManifest {
  return { flip: tta.flip, scales: [...tta.scales], views: 1 + (tta.flip ? 1 : 0) + tta.scales.length, combine: tta.combine ?? 'logit-mean' };
}

/** The bundle's graph with its views built in, and the manifest that says so. */
export function withTta(manifest: BundleManifest, model: Uint8Array, tta: TtaOptions, where: string): { manifest: BundleManifest; model: Uint8Array } {
  const combine = tta.combine ?? 'logit-mean';
  if (combine !== 'logit-mean' && combine !== 'prob-mean') throw invalidOption('--combine', 'logit-mean or prob-mean for test-time augmentation', combine);
  if (manifest.tta) throw new TagbooruError('E_USAGE', `${where} already has test-time augmentation (${manifest.tta.views} views)`);
  if (manifest.ensemble?.combine === 'random') throw new TagbooruError('E_USAGE', `${where} draws one member per image (--combine random); build the ensemble with --tta instead, or from augmented members`);
  if (typeof manifest.input.batch === 'number') throw new TagbooruError('E_USAGE', `${where} was exported with a fixed batch of ${manifest.input.batch}; test-time augmentation runs the views as one batch`);
  const m = decodeModel(model);
  if (tta.scales.length && opsetOf(m) < 11) throw new TagbooruError('E_USAGE', `${where} is exported at an opset before 11; scale views need Resize from opset 11`);
  const g = m.graph!;
  const e = new Emitter(m);
  const v = ttaManifest(tta).views;
  for (const input of modelInputs(manifest)) {
    const inner = e.name(`${input.name}_views`);
    renameValue(g, input.name, inner);
    const all = views(e, input.name, input.preprocess, tta);
    g.node!.push({ opType: 'Concat', name: e.name(`node_${inner}`), input: all, output: [inner], attribute: [{ name: 'axis', type: 2, i: 0 }] });
  }
  // the model's scores on batch × views, split back into one [N, tags] per view
  const output = manifest.output.name, tags = manifest.tags.length;
  const scores = scoresOf(m, output, manifest.output.activation);
  const inner = e.name(`${output}_views`);
  renameValue(g, output, inner);
  const view = (value: string | null, i: number) => (value === null ? null : e.node('Gather', [e.node('Reshape', [value === output ? inner : value, e.ints([v, -1, tags])]), e.ints([i], [])], { axis: 0 }, 'view'));
  const parts = Array.from({ length: v }, (_, i) => ({ scores: { logits: view(scores.logits, i), probs: view(scores.probs, i) } satisfies Scores, columns: null }));
  const combined = combineParts(e, parts, parts.map(() => new Float32Array(tags).fill(1 / v)), combine);
  g.node!.push({ opType: 'Identity', name: e.name(`node_${output}`), input: [combined.probs], output: [output], attribute: [] });
  g.output = g.output!.filter((o) => o.name === output).map((o) => ({ name: o.name, type: { tensorType: { elemType: 1 } } }));
  const { ood: _ood, ...rest } = manifest;
  return {
    manifest: { ...rest, output: { name: output, activation: 'sigmoid' }, tta: ttaManifest({ ...tta, combine }), provenance: { ...manifest.provenance, tta: `${v} views` } },
    model: encodeModel(m),
  };
}
