/**
 * `POST /evaluate` as danbooru/autotagger serves it (reference/peers.md §4), so Danbooru's AutotaggerClient
 * works unchanged: repeated multipart `file` fields, `threshold` (default 0.1), `limit` (default 50),
 * `format=html|json` (default html), and tagbooru's `ood=1`, which adds each image's out-of-distribution verdict
 * (`"ood": {score, threshold, flagged}`) when the model has a fitted score. JSON is `[{"filename": …, "tags": {"tag": score, …}}]`, every tag of the
 * model with score ≥ threshold, highest first, at most `limit`; rating tags are named `rating:<letter>`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TagbooruError } from '../errors.ts';
import type { TagInfo } from '../index.ts';
import { roundScore } from '../infer/rounding.ts';
import type { RouteContext } from './context.ts';
import { html, page } from './html.ts';
import { oodJson } from '../infer/ood.ts';

const FORMATS = ['html', 'json'] as const;
type Format = (typeof FORMATS)[number];

/** Danbooru's rating letters; DeepDanbooru's `safe` is today's `g` (Danbooru split old Safe into g and s in 2022). */
const RATING_LETTERS: Readonly<Record<string, string>> = { general: 'g', safe: 'g', sensitive: 's', questionable: 'q', explicit: 'e' };

export function autotaggerName(tag: TagInfo): string {
  if (tag.category !== 'rating') return tag.name;
  const bare = tag.name.replace(/^rating:/, '');
  return `rating:${RATING_LETTERS[bare] ?? bare}`;
}

/** autotagger's selection: every tag with score ≥ threshold, highest first, at most `limit`. */
function select(names: readonly string[], scores: Float32Array, threshold: number, limit: number): [string, number][] {
  const order: number[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i]! >= threshold) order.push(i);
  order.sort((a, b) => scores[b]! - scores[a]!);
  return order.slice(0, limit).map((i) => [names[i]!, roundScore(scores[i]!)]);
}

/** Tag → score as a JSON object in score order, written by hand: JS objects would put integer-like keys first. */
const tagsJson = (tags: [string, number][]) => `{${tags.map(([t, s]) => `${JSON.stringify(t)}:${s}`).join(',')}}`;

/** Formats asked for per request, remembered as fields arrive so an error can answer in the same format. */
const formats = new WeakMap<FastifyRequest, Format>();

/** An error of this route as autotagger renders it: an HTML page unless JSON was asked for. */
export function wantsHtml(request: FastifyRequest): boolean {
  const format = formats.get(request);
  if (format) return format === 'html';
  return /text\/html/.test(request.headers.accept ?? '');
}

export function autotaggerRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const names = ctx.service.bundle.manifest.tags.map(autotaggerName);

  app.post('/evaluate', { config: { tagging: true, auth: true } }, (request: FastifyRequest, reply: FastifyReply) => ctx.run(request, {
    known: ['threshold', 'limit', 'format', 'ood'],
    onField: (name, value) => {
      if (name === 'format' && (FORMATS as readonly string[]).includes(value)) formats.set(request, value as Format);
    },
  }, async (form, signal) => {
    const format = form.fields.choice('format', FORMATS) ?? 'html';
    formats.set(request, format);
    const threshold = form.fields.number('threshold', 0, 1) ?? 0.1;
    const limit = form.fields.number('limit', 0, 1_000_000, true) ?? 50;
    const withOod = form.fields.boolean('ood') ?? false;
    const results = await ctx.service.score(form.files, signal);
    const failed = results.find((r) => r.error !== null);
    if (failed) throw new TagbooruError('E_IMAGE', `"${failed.file}": ${failed.error}`);
    const tags = results.map((r) => select(names, r.scores!, threshold, limit));

    if (format === 'json') {
      const ood = (r: (typeof results)[number]) => (withOod && r.ood ? `,"ood":${JSON.stringify(oodJson(r.ood))}` : '');
      const body = `[${results.map((r, i) => `{"filename":${JSON.stringify(r.file)},"tags":${tagsJson(tags[i]!)}${ood(r)}}`).join(',')}]`;
      return reply.type('application/json; charset=utf-8').send(body);
    }
    const figures = results.map((r, i) => {
      const rows = tags[i]!.map(([t, s]) => html`<tr><td>${t}</td><td>${s.toFixed(4)}</td></tr>`);
      // the media type the decoder recognised, never the client's Content-Type: that is the client's to forge
      const src = `data:${r.mediaType!};base64,${Buffer.from(form.files[i]!.data).toString('base64')}`;
      const note = withOod && r.ood?.flagged ? html`<p>Unlike the images the model was trained on: these tags are unreliable.</p>` : html``;
      return html`<figure><img alt="${r.file}" src="${src}"><figcaption><h2>${r.file}</h2>${note}<table>${rows}</table></figcaption></figure>`;
    });
    return reply.type('text/html; charset=utf-8').send(page('Tags', html`${figures}`));
  }));
}
