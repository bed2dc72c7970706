/**
 * Explaining an ensemble bundle: each member's map on its own input grid (the member reads its own
 * preprocessed input), carried to the image through that member's geometry, and averaged over the members
 * that know the tag with their weights renormalised over them, the rule the scores follow. The average lives
 * on the content grid of the member input that covers the image most finely, so one member's map is kept as it is.
 */
import type { DecodedImage } from '../image/index.ts';
import { contentRect, inputToRgb, preprocess } from '../image/index.ts';
import type { Bundle } from '../infer/bundle.ts';
import { inputDims, modelInputs, toProbabilities } from '../infer/model-io.ts';
import type { Member } from './members.ts';
import { METHODS, workingMethods, type ExplainContext, type Probed } from './methods.ts';
import { contentBounds, frameScale, toRegion, upsample, type Frame } from './postprocess.ts';
import { contentRefiner } from './refine.ts';
import type { VariantRunner } from './runner.ts';
import { pickTags, region, type Resolved } from './tag-regions.ts';
import type { ExplainMethod, ExplainResult } from './types.ts';

export interface EnsembleContext {
  /** The ensemble. */
  readonly bundle: Bundle;
  readonly members: readonly { readonly member: Member; readonly ctx: ExplainContext }[];
  /** The ensemble's probabilities for `count` images, each laid out as preprocessInputs writes it. */
  readonly predict: (x: Float32Array, count: number) => Promise<Float32Array>;
}

export const isEnsemble = (ctx: ExplainContext | EnsembleContext): ctx is EnsembleContext => 'members' in ctx;

/** A member's explain context: its probabilities are its own output, run in its probe variant. */
export function memberContext(member: Member, worker: VariantRunner): ExplainContext {
  const { bundle } = member, m = bundle.manifest;
  const predict = async (x: Float32Array, count: number) => {
    const out = await worker.run('probe', { [m.input.name]: { data: x, dims: inputDims(m.preprocess, count) } }, [m.output.name]);
    return toProbabilities(out[m.output.name]!.data, m);
  };
  let baseline: Promise<Float32Array> | null = null;
  return { bundle, worker, predict, baseline: () => (baseline ??= predict(new Float32Array(m.preprocess.width * m.preprocess.height * 3), 1)) };
}

/** The methods that work on every member, in the order of preference. */
export async function ensembleMethods(ctx: EnsembleContext): Promise<ExplainMethod[]> {
  const each = await Promise.all(ctx.members.map((m) => workingMethods(m.ctx)));
  return each.reduce((a, b) => a.filter((x) => b.includes(x)));
}

/** Per tag, the members' weighted mean probability over the members that know it (what `predictions` holds in random mode). */
function meanScores(ctx: EnsembleContext, scores: readonly Float32Array[]): Float32Array {
  const T = ctx.bundle.manifest.tags.length, out = new Float32Array(T);
  for (let t = 0; t < T; t++) {
    let sum = 0, total = 0;
    ctx.members.forEach(({ member }, k) => {
      const j = member.own[t]!;
      if (j < 0) return;
      sum += member.weight * scores[k]![j]!;
      total += member.weight;
    });
    out[t] = total > 0 ? sum / total : 0;
  }
  return out;
}

const area = ([x0, y0, x1, y1]: Frame['bounds']) => (x1 - x0) * (y1 - y0);

export async function explainEnsembleImage(ctx: EnsembleContext, o: Resolved, image: DecodedImage, file: string): Promise<ExplainResult> {
  const { manifest } = ctx.bundle;
  const inputs = modelInputs(manifest);
  const xs = inputs.map((i) => preprocess(image, i.preprocess));
  const frames: Frame[] = inputs.map(({ preprocess: spec }) => ({ input: spec, bounds: contentBounds(contentRect(image.width, image.height, spec), spec.width, spec.height), image }));
  const probed: Probed[] = [];
  for (const { member, ctx: mc } of ctx.members) probed.push(await METHODS[o.method].probe(mc, xs[member.input]!, o));
  // random mode answers with one drawn member; its maps are the mean over the draw, and so are the scores shown
  let scores: Float32Array;
  if (manifest.ensemble!.combine === 'random') scores = meanScores(ctx, probed.map((p) => p.scores));
  else {
    const x = new Float32Array(xs.reduce((n, v) => n + v.length, 0));
    xs.reduce((at, v) => (x.set(v, at), at + v.length), 0);
    scores = await ctx.predict(x, 1);
  }
  const tags = pickTags(manifest, o, scores);

  const ref = frames.reduce((best, f, i) => (area(f.bounds) > area(frames[best]!.bounds) ? i : best), 0);
  const frame = frames[ref]!, [x0, y0, x1, y1] = frame.bounds, cw = x1 - x0, ch = y1 - y0;
  const sums = tags.map(() => new Float32Array(cw * ch)), totals = new Float64Array(tags.length);
  for (const [k, { member }] of ctx.members.entries()) {
    const mine = tags.flatMap((t, j) => (member.own[t]! >= 0 ? [j] : []));
    if (mine.length === 0) continue;
    const maps = await probed[k]!.maps(mine.map((j) => member.own[tags[j]!]!));
    mine.forEach((j, r) => {
      // the member's map over the image, as the member alone reports it: positive part, scaled by its maximum
      const { map } = toRegion(maps[r]!.grid, frames[member.input]!, o.maskThreshold);
      const onRef = map.width === cw && map.height === ch ? map.data : upsample(map, cw, ch);
      const sum = sums[j]!;
      for (let p = 0; p < sum.length; p++) sum[p]! += member.weight * onRef[p]!;
      totals[j]! += member.weight;
    });
  }

  const spec = inputs[ref]!.preprocess, { width, height } = spec;
  const rgb = o.keepInput || o.refine !== 'none' ? inputToRgb(xs[ref]!, spec) : null;
  const refine = rgb ? contentRefiner(o.refine, rgb, width, frame.bounds) : undefined;
  const regions = tags.map((t, j) => {
    // the mean over the content, placed in the reference input's frame (the padding empty)
    const data = new Float32Array(width * height), sum = sums[j]!;
    for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) data[(y0 + y) * width + x0 + x] = sum[y * cw + x]! / totals[j]!;
    return region(manifest, o, frame, t, scores[t]!, { grid: { width, height, data } }, refine);
  });
  const result: ExplainResult = { file, method: o.method, width: image.width, height: image.height, scale: frameScale(frame), tags: regions, error: null };
  return o.keepInput ? { ...result, input: { width, height, rgb: rgb!, content: frame.bounds } } : result;
}
