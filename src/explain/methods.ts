/**
 * The four methods, one entry each: `probe` scores the image in as few passes as the method allows, then
 * `maps` gives one grid map per tag. Post-processing (postprocess.ts) is the same for all of them.
 */
import { TagbooruError } from '../errors.ts';
import type { Bundle } from '../infer/bundle.ts';
import { inputDims, toProbabilities } from '../infer/model-io.ts';
import type { TensorData } from '../infer/session.ts';
import { featurePlanes, weightedSum } from './features.ts';
import { upsample, type Grid } from './postprocess.ts';
import type { VariantRunner } from './runner.ts';
import { saliencyMaps } from './saliency.ts';
import type { ExplainMethod } from './types.ts';
import { GRAD_IO, hasTrainingModel, type DenseProbe, type VariantInfo } from './variants.ts';

export interface ExplainContext {
  readonly bundle: Bundle;
  readonly worker: VariantRunner;
  /** The plain model's probabilities for `count` preprocessed inputs (the buffer is handed over). */
  readonly predict: (x: Float32Array, count: number) => Promise<Float32Array>;
  /** The probabilities of the all-zero input: Score-CAM's baseline, computed once per tagger. */
  readonly baseline: () => Promise<Float32Array>;
}

export interface TagMap {
  readonly grid: Grid;
  /** Saliency: the RGB map (interleaved, grid-sized). */
  readonly rgb?: Float32Array;
}

export interface Probed {
  /** Probabilities of every tag, bundle order. */
  readonly scores: Float32Array;
  maps(tags: readonly number[]): Promise<TagMap[]>;
}

export interface MethodOptions {
  readonly scorecamChannels?: number;
  /** cam: the map's stride in input pixels, finer than the model's own (dense.ts). */
  readonly mapStride?: number;
}

interface Method {
  probe(ctx: ExplainContext, x: Float32Array, o: MethodOptions): Promise<Probed>;
}

/** Rows per gradient-graph run: each row is a full forward and backward, so memory bounds it. */
const GRAD_ROWS = 8;
/** Masked images per Score-CAM scoring batch. */
const SCORECAM_BATCH = 16;

type ProbeInfo = Extract<VariantInfo, { variant: 'probe' }>;

/** The methods this bundle supports, for errors that tell what to use instead. */
export async function workingMethods(ctx: ExplainContext): Promise<ExplainMethod[]> {
  const info = await ctx.worker.describe('probe').catch(() => null);
  const hasWeights = hasTrainingModel(ctx.bundle.manifest);
  return [...(info?.cam ? ['cam' as const] : []), ...(info ? ['scorecam' as const] : []), ...(hasWeights ? ['gradcam' as const, 'saliency' as const] : [])];
}

/** Run the probe variant (model.onnx plus `cam` and feature outputs) on one image. */
async function runProbe(ctx: ExplainContext, x: Float32Array, fetch: 'cam' | 'features', variant: 'probe' | DenseProbe = 'probe'): Promise<{ info: ProbeInfo; scores: Float32Array; out: TensorData }> {
  const info = await ctx.worker.describe(variant);
  const name = fetch === 'cam' ? info.cam : info.features;
  if (!name) {
    const others = (await workingMethods(ctx)).filter((m) => m !== 'cam');
    throw new TagbooruError('E_MODEL', `cam needs a linear head on global average pooling (conv 1×1 → pool, or pool → dense); in this model ${info.camError}. Methods that work for it: ${others.join(', ')}`);
  }
  const { manifest } = ctx.bundle;
  const out = await ctx.worker.run(variant, { [manifest.input.name]: { data: x.slice(), dims: inputDims(manifest.preprocess, 1) } }, [manifest.output.name, name]);
  const raw = out[manifest.output.name]!.data;
  return { info, scores: toProbabilities(raw, manifest), out: out[name]! };
}

/** One-hot seed rows for a chunk of tags, and the image repeated once per row. */
function gradFeeds(ctx: ExplainContext, x: Float32Array, tags: readonly number[]): Record<string, TensorData> {
  const T = ctx.bundle.manifest.tags.length, n = tags.length;
  const xs = new Float32Array(n * x.length), seed = new Float32Array(n * T);
  tags.forEach((t, r) => {
    xs.set(x, r * x.length);
    seed[r * T + t] = 1;
  });
  return { [GRAD_IO.x]: { data: xs, dims: inputDims(ctx.bundle.manifest.preprocess, n) }, [GRAD_IO.seed]: { data: seed, dims: [n, T] } };
}

async function inChunks<T>(tags: readonly number[], run: (chunk: readonly number[]) => Promise<T[]>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < tags.length; i += GRAD_ROWS) out.push(...(await run(tags.slice(i, i + GRAD_ROWS))));
  return out;
}

const plainScores = (ctx: ExplainContext, x: Float32Array) => ctx.predict(x.slice(), 1);

export const METHODS: { [K in ExplainMethod]: Method } = {
  /** The head at every position: one pass, every tag (exact for conv 1×1 → GAP and GAP → dense heads). */
  cam: {
    async probe(ctx, x, o) {
      const { info, scores, out } = await runProbe(ctx, x, 'cam', o.mapStride === undefined ? 'probe' : `probe@${o.mapStride}`);
      const input = ctx.bundle.manifest.preprocess;
      const { planes, width, height } = featurePlanes(out, info.layout === 'tokens' ? 'tokens' : 'NCHW', info, input);
      const hw = width * height, lattice = info.lattice;
      return { scores, maps: (tags) => Promise.resolve(tags.map((t) => ({ grid: { width, height, lattice, data: planes.subarray(t * hw, (t + 1) * hw) } }))) };
    },
  },

  /** Wang et al. 2020 without the softmax: channel k weighs score(x ⊙ norm(up(A_k))) − score(baseline). */
  scorecam: {
    async probe(ctx, x, o) {
      const { info, scores, out } = await runProbe(ctx, x, 'features');
      const spec = ctx.bundle.manifest.preprocess;
      const { planes, channels, width, height } = featurePlanes(out, info.layout, info, spec);
      return {
        scores,
        async maps(tags) {
          const hw = width * height, T = ctx.bundle.manifest.tags.length;
          // the strongest channels first; a constant channel masks nothing and is skipped
          const means: { c: number; mean: number }[] = [];
          for (let c = 0; c < channels; c++) {
            const plane = planes.subarray(c * hw, (c + 1) * hw);
            let sum = 0, lo = Infinity, hi = -Infinity;
            for (const v of plane) {
              sum += v;
              lo = Math.min(lo, v);
              hi = Math.max(hi, v);
            }
            if (hi > lo) means.push({ c, mean: sum / hw });
          }
          means.sort((a, b) => b.mean - a.mean);
          const used = means.slice(0, o.scorecamChannels ?? means.length).map((m) => m.c);
          const baseline = await ctx.baseline();
          const weights = tags.map(() => new Float32Array(used.length));
          const pixels = spec.width * spec.height, per = pixels * 3;
          for (let start = 0; start < used.length; start += SCORECAM_BATCH) {
            const batch = used.slice(start, start + SCORECAM_BATCH);
            const xs = new Float32Array(batch.length * per);
            batch.forEach((c, b) => {
              const m = upsample({ width, height, data: planes.subarray(c * hw, (c + 1) * hw) }, spec.width, spec.height);
              let lo = Infinity, hi = -Infinity;
              for (const v of m) {
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
              }
              const scale = hi > lo ? 1 / (hi - lo) : 0;
              for (let p = 0; p < pixels; p++) {
                const k = (m[p]! - lo) * scale;
                for (let ch = 0; ch < 3; ch++) {
                  const i = spec.layout === 'NHWC' ? p * 3 + ch : ch * pixels + p;
                  xs[b * per + i] = x[i]! * k;
                }
              }
            });
            const probs = await ctx.predict(xs, batch.length);
            tags.forEach((t, j) => batch.forEach((_, b) => (weights[j]![start + b] = probs[b * T + t]! - baseline[t]!)));
          }
          return tags.map((_, j) => ({ grid: { width, height, data: weightedSum(planes, hw, weights[j]!, used) } }));
        },
      };
    },
  },

  /** Selvaraju et al. 2017: α_k = mean of ∂logit/∂A_k over the map; ReLU(Σ α_k A_k). One row per tag. */
  gradcam: {
    async probe(ctx, x) {
      return {
        scores: await plainScores(ctx, x),
        maps: (tags) => inChunks(tags, async (chunk) => {
          const out = await ctx.worker.run('gradcam', gradFeeds(ctx, x, chunk), [GRAD_IO.features, GRAD_IO.featuresGrad]);
          const [, C, h, w] = out[GRAD_IO.features]!.dims as [number, number, number, number];
          const hw = h * w, A = out[GRAD_IO.features]!.data, G = out[GRAD_IO.featuresGrad]!.data;
          const all = Int32Array.from({ length: C }, (_, c) => c);
          return chunk.map((_, r) => {
            const alpha = new Float32Array(C);
            for (let c = 0; c < C; c++) {
              let s = 0;
              for (let p = 0; p < hw; p++) s += G[(r * C + c) * hw + p]!;
              alpha[c] = s / hw;
            }
            return { grid: { width: w, height: h, data: weightedSum(A.subarray(r * C * hw, (r + 1) * C * hw), hw, alpha, all) } };
          });
        }),
      };
    },
  },

  /** DeepDanbooru's grad-cam: the input gradient, clipped, normalised and median-filtered. */
  saliency: {
    async probe(ctx, x) {
      const { width, height } = ctx.bundle.manifest.preprocess;
      return {
        scores: await plainScores(ctx, x),
        maps: (tags) => inChunks(tags, async (chunk) => {
          const out = await ctx.worker.run('saliency', gradFeeds(ctx, x, chunk), [GRAD_IO.inputGrad]);
          const grad = out[GRAD_IO.inputGrad]!.data, per = width * height * 3;
          return chunk.map((_, r) => {
            const { rgb, map } = saliencyMaps(grad.subarray(r * per, (r + 1) * per), width, height);
            return { grid: { width, height, data: map }, rgb };
          });
        }),
      };
    },
  },
};
