/**
 * "Where is the tag?" as three steps: decode (and preprocess) → run the method → post-process each tag's map
 * into a region. Options are checked once at entry; a bad image fails alone.
 */
import { TagbooruError, errorMessage, expectNumberInRange, invalidOption } from '../errors.ts';
import { contentRect, decodeImage, inputToRgb, preprocess, type DecodeOptions } from '../image/index.ts';
import { inputName, inputSource, type ImageInput } from '../infer/input.ts';
import { compileSelection, normaliseTag, type CompiledSelection } from '../infer/selection.ts';
import { METHODS, workingMethods, type ExplainContext, type TagMap } from './methods.ts';
import { isPlaceless } from './placeless.ts';
import { contentRefiner } from './refine.ts';
import { contentBounds, frameScale, inputFrameMap, scaleByMax, toRegion, type Frame, type Refine } from './postprocess.ts';
import { EXPLAIN_METHODS, EXPLAIN_REFINEMENTS, type ExplainMethod, type ExplainRefinement, type ExplainOptions, type ExplainResult, type TagRegion } from './types.ts';
import { requireTrainingModel } from './variants.ts';

export const EXPLAIN_DEFAULTS = { maskThreshold: 0.5, includePlaceless: false, keepInput: false, refine: 'none' } as const satisfies Partial<ExplainOptions>;

interface Resolved {
  readonly method: ExplainMethod;
  readonly maskThreshold: number;
  readonly refine: ExplainRefinement;
  readonly includePlaceless: boolean;
  readonly keepInput: boolean;
  readonly scorecamChannels?: number;
  readonly mapStride?: number;
  /** Explicit tag indices; null: the selection picks the default tags from the scores. */
  readonly tags: readonly number[] | null;
  readonly selection: CompiledSelection;
}

/** cam where the head allows it, else scorecam, else a gradient method when the bundle has its weights. */
async function defaultMethod(ctx: ExplainContext): Promise<ExplainMethod> {
  const working = await workingMethods(ctx);
  const method = working[0];
  if (!method) throw new TagbooruError('E_MODEL', `${ctx.bundle.dir}: no method can explain this model: it has no global average pooling (cam, scorecam) and no training weights (gradcam, saliency)`);
  return method;
}

async function resolve(ctx: ExplainContext, options: ExplainOptions): Promise<Resolved> {
  const o = { ...EXPLAIN_DEFAULTS, ...options };
  if (o.method !== undefined && !(EXPLAIN_METHODS as readonly string[]).includes(o.method)) throw invalidOption('method', `one of ${EXPLAIN_METHODS.join(', ')}`, o.method);
  expectNumberInRange('maskThreshold', o.maskThreshold, 0, 1);
  if (!(EXPLAIN_REFINEMENTS as readonly string[]).includes(o.refine)) throw invalidOption('refine', `one of ${EXPLAIN_REFINEMENTS.join(', ')}`, o.refine);
  if (o.scorecamChannels !== undefined) expectNumberInRange('scorecamChannels', o.scorecamChannels, 1, 1_000_000, true);
  const { tags, thresholds } = ctx.bundle.manifest;
  const index = new Map(tags.map((t, i) => [normaliseTag(t.name), i]));
  const chosen = o.tags?.map((name) => {
    const i = index.get(normaliseTag(name));
    if (i === undefined) throw invalidOption('tags', `tags of this bundle (${tags.length}, e.g. ${tags.slice(0, 3).map((t) => t.name).join(', ')})`, name);
    return i;
  }) ?? null;
  const selection = compileSelection(tags, thresholds, { threshold: o.threshold });
  const method = o.method ?? (await defaultMethod(ctx));
  if (method === 'gradcam' || method === 'saliency') requireTrainingModel(ctx.bundle, method);
  if (o.mapStride !== undefined) await checkMapStride(ctx, method, o.mapStride);
  return { ...o, method, tags: chosen, selection };
}

/** A finer map is a rewrite of the cam probe: only cam has one, and only at strides the model's layers allow. */
async function checkMapStride(ctx: ExplainContext, method: ExplainMethod, mapStride: number): Promise<void> {
  if (method !== 'cam') throw new TagbooruError('E_USAGE', `mapStride applies to method cam only (received it with ${method}, whose maps have their own resolution)`);
  const { mapStrides } = await ctx.worker.describe('probe');
  if (!mapStrides.includes(mapStride)) throw invalidOption('mapStride', `one of ${mapStrides.join(', ')} for this model (input pixels per map cell)`, mapStride);
}

/** The tags to explain on this image: the ones asked for, or those the thresholds select that have a place. */
function pickTags(ctx: ExplainContext, o: Resolved, scores: Float32Array): number[] {
  if (o.tags) return [...o.tags];
  const { tags } = ctx.bundle.manifest;
  const index = new Map(tags.map((t, i) => [t.name, i]));
  const { tags: selected, rating } = o.selection.select(scores);
  const all = o.includePlaceless && rating ? [rating, ...selected] : selected;
  return all.filter((t) => o.includePlaceless || !isPlaceless(t)).map((t) => index.get(t.name)!);
}

function region(ctx: ExplainContext, o: Resolved, frame: Frame, t: number, score: number, m: TagMap, refine: Refine | undefined): TagRegion {
  const tag = ctx.bundle.manifest.tags[t]!;
  const r = toRegion(m.grid, frame, o.maskThreshold, refine);
  const base = { name: tag.name, category: tag.category, score, threshold: o.maskThreshold, ...r };
  if (!o.keepInput) return base;
  const { width, height } = frame.input;
  const inputMap = m.rgb ? { width, height, data: scaleByMax(m.rgb.slice()), channels: 3 as const } : { width, height, data: inputFrameMap(m.grid, width, height), channels: 1 as const };
  return { ...base, inputMap };
}

async function explainOne(ctx: ExplainContext, o: Resolved, input: ImageInput, i: number, decode: DecodeOptions | undefined): Promise<ExplainResult> {
  const file = inputName(input, i);
  const spec = ctx.bundle.manifest.preprocess;
  let image;
  try {
    image = await decodeImage(inputSource(input), decode);
  } catch (e) {
    return { file, method: o.method, width: 0, height: 0, scale: [1, 1], tags: [], error: errorMessage(e) };
  }
  const x = preprocess(image, spec);
  const bounds = contentBounds(contentRect(image.width, image.height, spec), spec.width, spec.height);
  const frame: Frame = { input: spec, bounds, image };
  const probed = await METHODS[o.method].probe(ctx, x, o);
  const tags = pickTags(ctx, o, probed.scores);
  const maps = await probed.maps(tags);
  const rgb = o.keepInput || o.refine !== 'none' ? inputToRgb(x, spec) : null;
  const refine = rgb ? contentRefiner(o.refine, rgb, spec.width, bounds) : undefined;
  const result: ExplainResult = {
    file, method: o.method, width: image.width, height: image.height, scale: frameScale(frame),
    tags: tags.map((t, k) => region(ctx, o, frame, t, probed.scores[t]!, maps[k]!, refine)), error: null,
  };
  return o.keepInput ? { ...result, input: { width: spec.width, height: spec.height, rgb: rgb!, content: bounds } } : result;
}

/** Explain each input in order; an input that cannot be decoded gets its error and the others go on. */
export async function* explainStream(ctx: ExplainContext, inputs: Iterable<ImageInput> | AsyncIterable<ImageInput>, options: ExplainOptions = {}, decode?: DecodeOptions): AsyncGenerator<ExplainResult> {
  const o = await resolve(ctx, options);
  let i = 0;
  for await (const input of inputs) yield await explainOne(ctx, o, input, i++, decode);
}
