/**
 * The JSON API: `POST /v1/tag` with the CLI's selection options as fields, `GET /v1/models` and the bundle's
 * files (the browser runs the same model from them).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TagbooruError } from '../errors.ts';
import { compileSelection, type ScoredTag, type SelectionOptions, type TagInfo } from '../index.ts';
import { oodJson } from '../infer/ood.ts';
import { expectKnownTags } from '../infer/tag-names.ts';
import type { RouteContext } from './context.ts';
import { explainMethods } from './explain.ts';
import type { Fields } from './fields.ts';

/** The one model served, under this id; the routes leave room for more. */
export const MODEL_ID = 'default';

export const TAG_FIELDS = [
  'threshold', 'general-threshold', 'character-threshold', 'tag-threshold', 'mcut', 'character-floor', 'top-k', 'exclude', 'include',
  'floor', 'filename',
] as const;

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

/** Selected tags read like the CLI's JSON: four decimals. */
const round4 = (x: number) => Math.round(x * 10000) / 10000;

function selectionOf(f: Fields, tags: readonly TagInfo[]): SelectionOptions {
  const tagThresholds = f.pairs('tag-threshold', 0, 1);
  expectKnownTags('tag-threshold', Object.keys(tagThresholds ?? {}), tags);
  const general = f.number('general-threshold', 0, 1);
  const character = f.number('character-threshold', 0, 1);
  return {
    threshold: f.number('threshold', 0, 1),
    categoryThresholds: { ...(general !== undefined && { general }), ...(character !== undefined && { character }) },
    tagThresholds,
    mcut: f.boolean('mcut'),
    characterFloor: f.number('character-floor', 0, 1),
    topK: f.number('top-k', 1, 1_000_000, true),
    exclude: f.list('exclude'),
    include: f.list('include'),
  };
}

const tagJson = (t: ScoredTag) => ({ name: t.name, category: t.category, score: round4(t.score) });
const exactJson = (t: ScoredTag) => ({ name: t.name, category: t.category, score: float32Number(t.score) });

export function describeModel(ctx: RouteContext) {
  const m = ctx.service.bundle.manifest;
  const categories: Record<string, number> = {};
  for (const t of m.tags) categories[t.category] = (categories[t.category] ?? 0) + 1;
  return {
    id: MODEL_ID,
    name: m.name,
    architecture: m.architecture ?? null,
    tags: m.tags.length,
    categories,
    thresholds: m.thresholds,
    preprocess: m.preprocess,
    explain: explainMethods(m),
    files: { manifest: `/v1/models/${MODEL_ID}/tagger.json`, model: `/v1/models/${MODEL_ID}/model.onnx` },
  };
}

export function apiRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { manifest } = ctx.service.bundle;

  app.post('/v1/tag', { config: { tagging: true, auth: true } }, (request: FastifyRequest) => ctx.run(request, { known: TAG_FIELDS }, async ({ files, fields }, signal) => {
    const selection = compileSelection(manifest.tags, manifest.thresholds, selectionOf(fields, manifest.tags));
    const floor = fields.number('floor', 0, 1);
    const results = await ctx.service.score(files, signal);
    const ok = results.filter((r) => r.error === null).length;
    if (ok === 0) {
      const first = results[0]!;
      throw new TagbooruError('E_IMAGE', `"${first.file}": ${first.error}`);
    }
    return {
      model: manifest.name,
      results: results.map((r) => {
        if (r.error !== null) return { file: r.file, tags: [], rating: null, error: r.error };
        const { tags, rating } = selection.select(r.scores);
        const scores = floor === undefined ? undefined : aboveFloor(manifest.tags, r.scores, floor);
        return { file: r.file, tags: tags.map(tagJson), rating: rating && { name: rating.name, score: round4(rating.score) }, error: null, ...(scores && { scores }), ...(r.ood && { ood: oodJson(r.ood) }) };
      }),
    };
  }));

  app.get('/v1/models', { config: { auth: true } }, (_request, reply) => reply.send({ models: [describeModel(ctx)] }));

  app.get(`/v1/models/${MODEL_ID}/tagger.json`, { config: { auth: true } }, (_request, reply) => reply.send(manifest));

  app.get(`/v1/models/${MODEL_ID}/model.onnx`, { config: { auth: true } }, async (request, reply) => {
    const file = ctx.service.bundle.modelPath;
    const s = await stat(file);
    const etag = `"${s.size.toString(16)}-${Math.floor(s.mtimeMs).toString(16)}"`;
    reply.header('ETag', etag).header('Cache-Control', 'no-cache');
    if (request.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('application/octet-stream').header('Content-Length', s.size).send(createReadStream(file));
  });
}

/** Every tag scoring at least `floor`, highest first: enough for a client to re-select at any higher threshold. */
function aboveFloor(tags: readonly TagInfo[], scores: Float32Array, floor: number) {
  const out: ScoredTag[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i]! >= floor) out.push({ name: tags[i]!.name, category: tags[i]!.category, score: scores[i]! });
  return out.sort((a, b) => b.score - a.score).map(exactJson);
}
