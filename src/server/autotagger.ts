/**
 * `POST /evaluate` as danbooru/autotagger serves it (reference/peers.md §4), so Danbooru's AutotaggerClient
 * works unchanged: repeated multipart `file` fields, `threshold` (default 0.1), `limit` (default 50),
 * `format=html|json` (default html). JSON is `[{"filename": …, "tags": {"tag": score, …}}]`, every tag of the
 * model with score ≥ threshold, highest first, at most `limit`; rating tags are named `rating:<letter>`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TagbooruError } from '../errors.ts';
import type { TagInfo } from '../index.ts';
import type { RouteContext } from './context.ts';

const FORMATS = ['html', 'json'] as const;
type Format = (typeof FORMATS)[number];

/** Danbooru's rating letters; DeepDanbooru's `safe` is today's `g` (Danbooru split old Safe into g and s in 2022). */
const RATING_LETTERS: Readonly<Record<string, string>> = { general: 'g', safe: 'g', sensitive: 's', questionable: 'q', explicit: 'e' };

export function autotaggerName(tag: TagInfo): string {
  if (tag.category !== 'rating') return tag.name;
  const bare = tag.name.replace(/^rating:/, '');
  return `rating:${RATING_LETTERS[bare] ?? bare}`;
}

const round = (x: number) => Math.round(x * 10000) / 10000;

/** autotagger's selection: every tag with score ≥ threshold, highest first, at most `limit`. */
function select(names: readonly string[], scores: Float32Array, threshold: number, limit: number): [string, number][] {
  const order: number[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i]! >= threshold) order.push(i);
  order.sort((a, b) => scores[b]! - scores[a]!);
  return order.slice(0, limit).map((i) => [names[i]!, round(scores[i]!)]);
}

/** Tag → score as a JSON object in score order, written by hand: JS objects would put integer-like keys first. */
const tagsJson = (tags: [string, number][]) => `{${tags.map(([t, s]) => `${JSON.stringify(t)}:${s}`).join(',')}}`;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title>
<style>body{font:15px/1.4 system-ui,sans-serif;margin:1.5rem auto;max-width:56rem;padding:0 1rem}figure{display:flex;gap:1.5rem;flex-wrap:wrap;margin:0 0 2rem}img{max-width:18rem;max-height:18rem;object-fit:contain}td{padding:.1rem .6rem}td:last-child{text-align:right;font-variant-numeric:tabular-nums}</style>
</head><body>${body}<p><a href="/">Tag another image</a></p></body></html>`;
}

/** Formats asked for per request, remembered as fields arrive so an error can answer in the same format. */
const formats = new WeakMap<FastifyRequest, Format>();

/** An error of this route as autotagger renders it: an HTML page unless JSON was asked for. */
export function wantsHtml(request: FastifyRequest): boolean {
  const format = formats.get(request);
  if (format) return format === 'html';
  return /text\/html/.test(request.headers.accept ?? '');
}

export function errorPage(code: string, message: string): string {
  return page('Error', `<h1>${escapeHtml(code)}</h1><p>${escapeHtml(message)}</p>`);
}

export function autotaggerRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const names = ctx.service.bundle.manifest.tags.map(autotaggerName);

  app.post('/evaluate', { config: { tagging: true, auth: true } }, (request: FastifyRequest, reply: FastifyReply) => ctx.run(request, {
    known: ['threshold', 'limit', 'format'],
    onField: (name, value) => {
      if (name === 'format' && (FORMATS as readonly string[]).includes(value)) formats.set(request, value as Format);
    },
  }, async (form, signal) => {
    const format = form.fields.choice('format', FORMATS) ?? 'html';
    formats.set(request, format);
    const threshold = form.fields.number('threshold', 0, 1) ?? 0.1;
    const limit = form.fields.number('limit', 0, 1_000_000, true) ?? 50;
    const results = await ctx.service.score(form.files, signal);
    const failed = results.find((r) => r.error !== null);
    if (failed) throw new TagbooruError('E_IMAGE', `"${failed.file}": ${failed.error}`);
    const tags = results.map((r) => select(names, r.scores!, threshold, limit));

    if (format === 'json') {
      const body = `[${results.map((r, i) => `{"filename":${JSON.stringify(r.file)},"tags":${tagsJson(tags[i]!)}}`).join(',')}]`;
      return reply.type('application/json; charset=utf-8').send(body);
    }
    const figures = results.map((r, i) => {
      const file = form.files[i]!;
      const mime = file.mimetype?.startsWith('image/') ? file.mimetype : 'image/png';
      const rows = tags[i]!.map(([t, s]) => `<tr><td>${escapeHtml(t)}</td><td>${s.toFixed(4)}</td></tr>`).join('');
      return `<figure><img alt="${escapeHtml(r.file)}" src="data:${mime};base64,${Buffer.from(file.data).toString('base64')}"><figcaption><h2>${escapeHtml(r.file)}</h2><table>${rows}</table></figcaption></figure>`;
    });
    return reply.type('text/html; charset=utf-8').send(page('Tags', figures.join('')));
  }));
}
