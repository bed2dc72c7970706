/**
 * The explain worker: its own tagger, so explaining (several forward and backward passes per image) never holds
 * up the tagging workers, and everything it does — decode, preprocess, the maps, PNG encoding — stays off the
 * server's main thread. One image at a time; the pool queues the rest.
 */
import { TagbooruError } from '../errors.ts';
import type { ExplainOptions, ExplainResult, TagRegion } from '../explain/types.ts';
import { decodeImage } from '../image/decode.ts';
import { toPng } from '../image/encode.ts';
import { mapBytes, overlayHeatmap } from '../image/heatmap.ts';
import { dropAlpha } from '../image/preprocess.ts';
import { resample } from '../image/resample.ts';
import { roundScore, roundTo } from '../infer/rounding.ts';
import { createTagger } from '../tagger.ts';
import type { Bundle } from '../infer/bundle.ts';
import type { ExplainJson, RegionJson } from '../wire.ts';
import { serve } from '../workers/serve.ts';

export interface ExplainInit {
  /** A bundle folder, or the bundle the server runs (one built in memory, as `serve --tta` makes). */
  readonly model: string | Bundle;
  readonly threads: number;
  readonly maxPixels: number;
}

/** What to explain and how to answer: every region as JSON, or one tag's overlay as a PNG. */
export interface ExplainJob {
  readonly options: ExplainOptions;
  readonly output: { readonly format: 'json' } | { readonly format: 'png'; readonly tag: string; readonly opacity: number };
}

export type ExplainRequest = { readonly name: string; readonly data: Uint8Array; readonly job: ExplainJob };
export type Explained = { readonly format: 'json'; readonly body: ExplainJson } | { readonly format: 'png'; readonly png: Uint8Array };

/** The overlay's longest side: enough to see, small enough to send. */
export const OVERLAY_MAX_SIDE = 1024;

async function regionJson(r: TagRegion): Promise<RegionJson> {
  const png = await toPng(mapBytes(r.map.data), r.map.width, r.map.height, 1);
  return {
    name: r.name,
    category: r.category,
    score: roundScore(r.score),
    threshold: r.threshold,
    box: r.box && [roundTo(r.box[0], 1), roundTo(r.box[1], 1), roundTo(r.box[2], 1), roundTo(r.box[3], 1)],
    peak: [roundTo(r.peak[0], 1), roundTo(r.peak[1], 1)],
    map: `data:image/png;base64,${Buffer.from(png).toString('base64')}`,
  };
}

async function explainJson(result: ExplainResult): Promise<ExplainJson> {
  const first = result.tags[0];
  return {
    file: result.file,
    method: result.method,
    width: result.width,
    height: result.height,
    scale: result.scale,
    map: first ? { width: first.map.width, height: first.map.height } : { width: Math.round(result.width / result.scale[0]), height: Math.round(result.height / result.scale[1]) },
    tags: await Promise.all(result.tags.map(regionJson)),
  };
}

/** The image (alpha over white), at most OVERLAY_MAX_SIDE, with the tag's map, box and peak drawn over it. */
async function overlayPng(data: Uint8Array, region: TagRegion, opacity: number, maxPixels: number): Promise<Uint8Array> {
  let image = dropAlpha(await decodeImage(data, { maxPixels }), { alpha: 'composite', background: [255, 255, 255] });
  const k = Math.min(1, OVERLAY_MAX_SIDE / Math.max(image.width, image.height));
  if (k < 1) image = resample({ ...image, data: image.data as Uint8Array }, Math.max(1, Math.round(image.width * k)), Math.max(1, Math.round(image.height * k)), 'linear');
  const scaled = <T extends readonly number[]>(xs: T) => xs.map((v) => v * k) as unknown as T;
  const rgb = overlayHeatmap({ data: image.data as Uint8Array, width: image.width, height: image.height, channels: 3 }, region.map, {
    opacity,
    box: region.box && scaled(region.box),
    peak: scaled(region.peak),
  });
  return toPng(rgb, image.width, image.height, 3);
}

// one image at a time: the pool sends the next when this one is answered
await serve<ExplainInit, ExplainRequest, Explained>(async (init) => {
  const tagger = await createTagger(init.model, { threads: init.threads, decode: { maxPixels: init.maxPixels } });
  return {
    // answers are copied, not transferred: sharp's buffers may share their memory
    handle: async (req) => {
      const result = await tagger.explain({ name: req.name, data: req.data }, req.job.options);
      if (result.error !== null) throw new TagbooruError('E_IMAGE', `"${result.file}": ${result.error}`);
      const { output } = req.job;
      if (output.format === 'json') return { format: 'json', body: await explainJson(result) };
      const region = result.tags.find((t) => t.name === output.tag);
      if (!region) throw new TagbooruError('E_USAGE', `no map for tag "${output.tag}"`);
      return { format: 'png', png: await overlayPng(req.data, region, output.opacity, init.maxPixels) };
    },
    close: () => tagger.close(), // its own workers stop gracefully before this thread exits
  };
});
