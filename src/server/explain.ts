/**
 * `POST /v1/explain`: where in one image each tag is. JSON gives every tag's box, peak and map (a grey PNG at
 * map resolution, as a data URL); `format=png&tag=…` gives one tag's heat map drawn over the image. Explain
 * requests have their own queue (see explain-pool.ts), so they never take the places of tagging requests.
 */
import { hasTrainingModel } from '../explain/variants.ts';
import { compositeRefusal } from '../explain/explainer.ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TagbooruError, invalidOption } from '../errors.ts';
import { defined } from '../option-values.ts';
import { EXPLAIN_METHODS, EXPLAIN_REFINEMENTS, type ExplainMethod } from '../explain/types.ts';
import { normaliseTag, type BundleManifest, type TagInfo } from '../index.ts';
import type { ExplainJob } from './_explain-worker.ts';
import type { RouteContext } from './context.ts';
import type { Fields } from './fields.ts';

export const EXPLAIN_FIELDS = ['tags', 'method', 'mask-threshold', 'map-stride', 'refine', 'all-tags', 'format', 'tag', 'opacity', 'filename'] as const;
const FORMATS = ['json', 'png'] as const;
const DEFAULT_OPACITY = 0.6;

/**
 * The methods a bundle can be explained by, as far as its manifest tells: the gradient methods need the training
 * weights (src/explain/variants.ts); cam and scorecam need a pooling head (every member's, for an ensemble),
 * found only when the model is read.
 */
export function explainMethods(manifest: BundleManifest): ExplainMethod[] {
  if (compositeRefusal(manifest)) return [];
  // an ensemble is explained member by member (cam, scorecam), from what newer ensembles record of each member
  if (manifest.ensemble) return manifest.ensemble.members.every((m) => m.output && m.tagIndices) ? ['cam', 'scorecam'] : [];
  return EXPLAIN_METHODS.filter((m) => (m !== 'gradcam' && m !== 'saliency') || hasTrainingModel(manifest));
}

/** Tag names as people write them (`long hair`) to the model's own, each unknown one named. */
function modelTags(field: string, names: readonly string[], known: ReadonlyMap<string, TagInfo>): string[] {
  return names.map((n) => {
    const tag = known.get(normaliseTag(n));
    if (!tag) throw invalidOption(field, 'tags of the model (GET /v1/models/default/tagger.json lists them)', n);
    return tag.name;
  });
}

function methodOf(f: Fields, manifest: BundleManifest): ExplainMethod | undefined {
  const method = f.choice('method', EXPLAIN_METHODS);
  const composite = compositeRefusal(manifest);
  if (composite) throw composite;
  const usable = explainMethods(manifest);
  if (method === undefined || usable.includes(method)) return method;
  throw new TagbooruError('E_USAGE', `Expected one of ${usable.join(', ')} for method but received "${method}": it needs the bundle's training weights, which ${manifest.name} does not have`);
}

function jobOf(f: Fields, manifest: BundleManifest, known: ReadonlyMap<string, TagInfo>): ExplainJob {
  const format = f.choice('format', FORMATS) ?? 'json';
  const tag = f.list('tag');
  const opacity = f.number('opacity', 0, 1);
  // absent fields stay absent, so the library's defaults apply
  const options = defined({
    method: methodOf(f, manifest),
    maskThreshold: f.number('mask-threshold', 0, 1),
    mapStride: f.number('map-stride', 1, 4096, true),
    refine: f.choice('refine', EXPLAIN_REFINEMENTS),
    includePlaceless: f.boolean('all-tags'),
  });
  if (format === 'json') {
    if (tag) throw new TagbooruError('E_USAGE', 'field "tag" names the one tag of format=png; for JSON, list tags in "tags"');
    if (opacity !== undefined) throw new TagbooruError('E_USAGE', 'field "opacity" applies to format=png only');
    const tags = f.list('tags');
    return { options: { ...options, ...(tags && { tags: modelTags('tags', tags, known) }) }, output: { format } };
  }
  if (f.list('tags')) throw new TagbooruError('E_USAGE', 'format=png draws one tag: name it in "tag", not "tags"');
  if (!tag || tag.length !== 1) throw invalidOption('tag', 'one tag of the model (format=png draws one tag)', tag?.join(',') ?? '');
  const [name] = modelTags('tag', tag, known);
  // a tag asked for by name is drawn even when it has no place in the image
  return { options: { ...options, tags: [name!], includePlaceless: true }, output: { format, tag: name!, opacity: opacity ?? DEFAULT_OPACITY } };
}

export function explainRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { manifest } = ctx.service.bundle;
  const known = new Map(manifest.tags.map((t) => [normaliseTag(t.name), t]));

  app.post('/v1/explain', { config: { explaining: true, auth: true } }, (request: FastifyRequest, reply: FastifyReply) => ctx.run(request, { known: EXPLAIN_FIELDS }, async ({ files, fields }, signal) => {
    if (files.length !== 1) throw new TagbooruError('E_USAGE', `field "file": Expected one image but received ${files.length}; explain one image per request`);
    const job = jobOf(fields, manifest, known);
    const explained = await ctx.service.explainer.explain(files[0]!, job, signal);
    if (explained.format === 'png') return reply.type('image/png').send(Buffer.from(explained.png.buffer, explained.png.byteOffset, explained.png.byteLength));
    return reply.send({ model: manifest.name, ...explained.body });
  }));
}
