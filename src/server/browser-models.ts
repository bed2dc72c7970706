/**
 * Models offered to the web UI's in-browser mode beside the one the server runs, for the page's model picker:
 * their manifests and model files are served, nothing else. The server tags and explains with its own model only
 * (one set of workers), so a second model costs it disk reads, not memory; `runs` tells clients which is which.
 * A model with a fitted OOD score is also served with the score in its graph (ood-score-graph.ts), so the
 * browser flags foreign images as the server does.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { readBundle, type Bundle } from '../infer/bundle.ts';
import { bundleOodScoreGraph } from '../infer/ood-score-graph.ts';

/** Where a model runs: the server's own runs in both places, an offered one in the browser only. */
export type Runner = 'server' | 'browser';

export interface OfferedModel {
  /** The id in the model's URLs: `/v1/models/<id>/tagger.json`. */
  readonly id: string;
  readonly bundle: Bundle;
  readonly runs: readonly Runner[];
}

/** A URL-safe id from the bundle folder's name (a stored model's name), unique among `taken`. */
function idOf(dir: string, taken: ReadonlySet<string>): string {
  const base = path.basename(path.resolve(dir)).replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+/, '') || 'model';
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
  return id;
}

/** The served model under `servedId`, then each other bundle once (the served one is not offered twice). */
export async function offeredModels(served: Bundle, servedId: string, dirs: readonly string[]): Promise<OfferedModel[]> {
  const models: OfferedModel[] = [{ id: servedId, bundle: served, runs: ['server', 'browser'] }];
  const seen = new Set([path.resolve(served.dir)]);
  for (const dir of dirs) {
    if (seen.has(path.resolve(dir))) continue;
    seen.add(path.resolve(dir));
    // a folder that is no bundle fails the start, its error naming the folder
    const bundle = await readBundle(dir);
    models.push({ id: idOf(dir, new Set(models.map((m) => m.id))), bundle, runs: ['browser'] });
  }
  return models;
}

export interface ServedGraph {
  readonly bytes: Uint8Array;
  readonly etag: string;
}

/**
 * The model with its OOD score in the graph, built on the first request and kept (the browser asks once per
 * page, then revalidates); null when the bundle has no fit.
 */
export function oodGraphServer(bundle: Bundle): () => Promise<ServedGraph | null> {
  let built: Promise<ServedGraph | null> | null = null;
  return () => {
    built ??= bundleOodScoreGraph(bundle).then((g) => g && { bytes: g.graph.model, etag: contentEtag(g.graph.model) });
    built.catch(() => (built = null));
    return built;
  };
}

/** An ETag naming bytes by their content, for a graph the server holds in memory. */
export function contentEtag(bytes: Uint8Array): string {
  return `"${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}"`;
}
