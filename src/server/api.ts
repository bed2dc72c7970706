/**
 * The JSON API: `POST /v1/tag` with the CLI's selection and caption options as fields, `GET /v1/models` and each
 * model's files (the browser runs the same model from them; browser-models.ts: the ones offered to the browser only).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TagbooruError } from '../errors.ts';
import { compileSelection, type ScoredTag, type TagInfo } from '../index.ts';
import { CAPTION_OPTION_KINDS, compileCaptionText, parseCaptionOptions, type CaptionOptions, type RawCaptionOptions } from '../infer/caption.ts';
import { SELECTION_FIELDS, readSelection } from '../infer/selection-options.ts';
import { roundScore } from '../infer/rounding.ts';
import { contentEtag, oodGraphServer, offeredModels, type OfferedModel } from './browser-models.ts';
import { oodJson } from '../infer/ood.ts';
import { oodScoreSpec } from '../infer/ood-score-graph.ts';
import type { RouteContext } from './context.ts';
import { explainMethods } from './explain.ts';
import type { Fields } from './fields.ts';
import type { ModelInfo, TagResponse, WireTag } from '../wire.ts';

/** The model the server runs, under this id; others may be offered to the browser beside it. */
export const MODEL_ID = 'default';

export const TAG_FIELDS: readonly string[] = [...SELECTION_FIELDS, 'floor', 'filename', 'caption', ...Object.keys(CAPTION_OPTION_KINDS)];

/** The shortest decimal that reads back as the same float32, so clients re-thresholding see the model's exact scores. */
export function float32Number(x: number): number {
  const f = Math.fround(x);
  // float32 needs 6 to 9 significant digits; most scores need 7 or 8
  for (let digits = 6; digits < 9; digits++) {
    const v = Number(f.toPrecision(digits));
    if (Math.fround(v) === f) return v;
  }
  return Number(f.toPrecision(9));
}

const tagJson = (t: ScoredTag): WireTag => ({ name: t.name, category: t.category, score: roundScore(t.score) });
const exactJson = (t: ScoredTag): WireTag => ({ name: t.name, category: t.category, score: float32Number(t.score) });

/** The caption options, parsed as the CLI parses its flags; null when no result is to carry a `caption` (none asked, or `caption=0`). */
function captionOf(f: Fields): CaptionOptions | null {
  const raw = Object.fromEntries(Object.entries(CAPTION_OPTION_KINDS).map(([name, kind]) => {
    return [name, kind === 'boolean' ? f.boolean(name) : kind === 'list' ? f.all(name) : f.text(name)];
  })) as RawCaptionOptions;
  const options = parseCaptionOptions(raw);
  return f.boolean('caption') ?? Object.values(raw).some((v) => v !== undefined) ? options : null;
}

/** The model the server runs, as `GET /v1/models` lists it first. */
export function describeModel(ctx: RouteContext): ModelInfo {
  return describe({ id: MODEL_ID, bundle: ctx.service.bundle, runs: ['server', 'browser'] });
}

function describe({ id, bundle, runs }: OfferedModel): ModelInfo {
  const m = bundle.manifest;
  const ood = oodScoreSpec(m);
  const categories: Record<string, number> = {};
  for (const t of m.tags) categories[t.category] = (categories[t.category] ?? 0) + 1;
  return {
    id,
    name: m.name,
    architecture: m.architecture ?? null,
    tags: m.tags.length,
    categories,
    thresholds: m.thresholds,
    preprocess: m.preprocess,
    runs,
    // what POST /v1/explain offers for it: nothing for a model the server does not run
    explain: runs.includes('server') ? explainMethods(m) : [],
    files: { manifest: `/v1/models/${id}/tagger.json`, model: `/v1/models/${id}/model.onnx` },
    ...(ood && { ood: { ...ood, model: `/v1/models/${id}/model-ood.onnx` } }),
  };
}

export async function apiRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { manifest } = ctx.service.bundle;
  const models = await offeredModels(ctx.service.bundle, MODEL_ID, ctx.options.browserModels);

  app.post('/v1/tag', { config: { tagging: true, auth: true } }, (request: FastifyRequest) => ctx.run(request, { known: TAG_FIELDS }, async ({ files, fields }, signal) => {
    const selection = compileSelection(manifest.tags, manifest.thresholds, readSelection(fields, manifest.tags));
    const floor = fields.number('floor', 0, 1);
    const caption = captionOf(fields);
    const captionText = caption && compileCaptionText(caption);
    const results = await ctx.service.score(files, signal);
    const ok = results.filter((r) => r.error === null).length;
    if (ok === 0) {
      const first = results[0]!;
      throw new TagbooruError('E_IMAGE', `"${first.file}": ${first.error}`);
    }
    return {
      model: manifest.name,
      results: results.map((r) => {
        if (r.error !== null) return { file: r.file, tags: [], rating: null, error: r.error, ...(captionText && { caption: null }) };
        const selected = selection.select(r.scores);
        const { tags, rating } = selected;
        const scores = floor === undefined ? undefined : aboveFloor(manifest.tags, r.scores, floor);
        return {
          file: r.file, tags: tags.map(tagJson), rating: rating && { name: rating.name, score: roundScore(rating.score) }, error: null,
          ...(captionText && { caption: captionText(selected) }), ...(scores && { scores }), ...(r.ood && { ood: oodJson(r.ood) }),
        };
      }),
    } satisfies TagResponse;
  }));

  const listed = models.map(describe);
  app.get('/v1/models', { config: { auth: true } }, (_request, reply) => reply.send({ models: listed }));

  for (const { id, bundle } of models) {
    app.get(`/v1/models/${id}/tagger.json`, { config: { auth: true } }, (_request, reply) => reply.send(bundle.manifest));

    app.get(`/v1/models/${id}/model.onnx`, { config: { auth: true } }, async (request, reply) => {
      // a graph built in memory (serve --tta) is what the server runs, so it is what the browser gets
      if (bundle.model) return sendBytes(request, reply, bundle.model);
      const file = bundle.modelPath;
      const s = await stat(file);
      const etag = `"${s.size.toString(16)}-${Math.floor(s.mtimeMs).toString(16)}"`;
      reply.header('ETag', etag).header('Cache-Control', 'no-cache');
      if (request.headers['if-none-match'] === etag) return reply.code(304).send();
      return reply.type('application/octet-stream').header('Content-Length', s.size).send(createReadStream(file));
    });

    if (!oodScoreSpec(bundle.manifest)) continue;
    const oodGraph = oodGraphServer(bundle);
    app.get(`/v1/models/${id}/model-ood.onnx`, { config: { auth: true } }, async (request, reply) => {
      const graph = await oodGraph();
      if (!graph) throw new TagbooruError('E_BUNDLE', `${bundle.dir} has no fitted out-of-distribution score`);
      return sendBytes(request, reply, graph.bytes, graph.etag);
    });
  }
}

const etags = new WeakMap<Uint8Array, string>();

/** Bytes held in memory, named by their content (hashed once), answered 304 when the client has them already. */
function sendBytes(request: FastifyRequest, reply: FastifyReply, bytes: Uint8Array, etag?: string): FastifyReply {
  let tag = etag ?? etags.get(bytes);
  if (!tag) etags.set(bytes, (tag = contentEtag(bytes)));
  reply.header('ETag', tag).header('Cache-Control', 'no-cache');
  if (request.headers['if-none-match'] === tag) return reply.code(304).send();
  return reply.type('application/octet-stream').header('Content-Length', bytes.byteLength).send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** Every tag scoring at least `floor`, highest first: enough for a client to re-select at any higher threshold. */
function aboveFloor(tags: readonly TagInfo[], scores: Float32Array, floor: number) {
  const out: ScoredTag[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i]! >= floor) out.push({ name: tags[i]!.name, category: tags[i]!.category, score: scores[i]! });
  return out.sort((a, b) => b.score - a.score).map(exactJson);
}
