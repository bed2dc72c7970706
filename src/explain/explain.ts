/**
 * "Where is the tag?" as three steps: decode (and preprocess) → run the method → post-process each tag's map
 * into a region. Options are checked once at entry; a bad image fails alone.
 */
import { TagbooruError, errorMessage, expectNumberInRange, invalidOption } from '../errors.ts';
import { contentRect, decodeImage, inputToRgb, preprocess, type DecodedImage, type DecodeOptions } from '../image/index.ts';
import { inputName, inputSource, type ImageInput } from '../infer/input.ts';
import { compileSelection, normaliseTag } from '../infer/selection.ts';
import { ensembleMethods, explainEnsembleImage, isEnsemble, type EnsembleContext } from './ensemble.ts';
import { METHODS, workingMethods, type ExplainContext } from './methods.ts';
import { contentRefiner } from './refine.ts';
import { contentBounds, frameScale, type Frame } from './postprocess.ts';
import { pickTags, region, type Resolved } from './tag-regions.ts';
import { EXPLAIN_METHODS, EXPLAIN_REFINEMENTS, type ExplainMethod, type ExplainOptions, type ExplainResult } from './types.ts';
import { requireTrainingModel } from './variants.ts';

/** A single model's context, or an ensemble's: its members' contexts (ensemble.ts). */
export type Context = ExplainContext | EnsembleContext;

export const EXPLAIN_DEFAULTS = { maskThreshold: 0.5, includePlaceless: false, keepInput: false, refine: 'none' } as const satisfies Partial<ExplainOptions>;

/** cam where the head allows it, else scorecam, else a gradient method when the bundle has its weights. */
async function defaultMethod(ctx: Context): Promise<ExplainMethod> {
  const working = isEnsemble(ctx) ? await ensembleMethods(ctx) : await workingMethods(ctx);
  const method = working[0];
  if (!method) {
    const what = isEnsemble(ctx) ? 'no method works on every member of this ensemble (cam and scorecam need global average pooling)' : 'no method can explain this model: it has no global average pooling (cam, scorecam) and no training weights (gradcam, saliency)';
    throw new TagbooruError('E_MODEL', `${ctx.bundle.dir}: ${what}`);
  }
  return method;
}

/** gradcam and saliency run a training model: a single bundle's, and an ensemble has none of its own. */
function requireGradients(ctx: Context, method: 'gradcam' | 'saliency'): void {
  if (!isEnsemble(ctx)) return void requireTrainingModel(ctx.bundle, method);
  throw new TagbooruError('E_USAGE', `${method} needs training weights, which an ensemble bundle does not carry: explain ${ctx.bundle.manifest.name} with cam or scorecam (the members' maps averaged), or explain a member bundle with ${method}`);
}

async function resolve(ctx: Context, options: ExplainOptions): Promise<Resolved> {
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
  if (method === 'gradcam' || method === 'saliency') requireGradients(ctx, method);
  if (o.mapStride !== undefined) for (const c of isEnsemble(ctx) ? ctx.members.map((m) => m.ctx) : [ctx]) await checkMapStride(c, method, o.mapStride);
  return { ...o, method, tags: chosen, selection };
}

/** A finer map is a rewrite of the cam probe: only cam has one, and only at strides the model's layers allow. */
async function checkMapStride(ctx: ExplainContext, method: ExplainMethod, mapStride: number): Promise<void> {
  if (method !== 'cam') throw new TagbooruError('E_USAGE', `mapStride applies to method cam only (received it with ${method}, whose maps have their own resolution)`);
  const { mapStrides } = await ctx.worker.describe('probe');
  if (!mapStrides.includes(mapStride)) throw invalidOption('mapStride', `one of ${mapStrides.join(', ')} for this model (input pixels per map cell)`, mapStride);
}

async function explainOne(ctx: Context, o: Resolved, input: ImageInput, i: number, decode: DecodeOptions | undefined): Promise<ExplainResult> {
  const file = inputName(input, i);
  let image;
  try {
    image = await decodeImage(inputSource(input), decode);
  } catch (e) {
    return { file, method: o.method, width: 0, height: 0, scale: [1, 1], tags: [], error: errorMessage(e) };
  }
  return isEnsemble(ctx) ? explainEnsembleImage(ctx, o, image, file) : explainImage(ctx, o, image, file);
}

async function explainImage(ctx: ExplainContext, o: Resolved, image: DecodedImage, file: string): Promise<ExplainResult> {
  const spec = ctx.bundle.manifest.preprocess;
  const x = preprocess(image, spec);
  const bounds = contentBounds(contentRect(image.width, image.height, spec), spec.width, spec.height);
  const frame: Frame = { input: spec, bounds, image };
  const probed = await METHODS[o.method].probe(ctx, x, o);
  const tags = pickTags(ctx.bundle.manifest, o, probed.scores);
  const maps = await probed.maps(tags);
  const rgb = o.keepInput || o.refine !== 'none' ? inputToRgb(x, spec) : null;
  const refine = rgb ? contentRefiner(o.refine, rgb, spec.width, bounds) : undefined;
  const result: ExplainResult = {
    file, method: o.method, width: image.width, height: image.height, scale: frameScale(frame),
    tags: tags.map((t, k) => region(ctx.bundle.manifest, o, frame, t, probed.scores[t]!, maps[k]!, refine)), error: null,
  };
  return o.keepInput ? { ...result, input: { width: spec.width, height: spec.height, rgb: rgb!, content: bounds } } : result;
}

/** Explain each input in order; an input that cannot be decoded gets its error and the others go on. */
export async function* explainStream(ctx: Context, inputs: Iterable<ImageInput> | AsyncIterable<ImageInput>, options: ExplainOptions = {}, decode?: DecodeOptions): AsyncGenerator<ExplainResult> {
  const o = await resolve(ctx, options);
  let i = 0;
  for await (const input of inputs) yield await explainOne(ctx, o, input, i++, decode);
}
