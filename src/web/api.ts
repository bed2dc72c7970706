/** The server's JSON API as the page uses it; the API key, if the server wants one, rides along. */
import type { ExplainMethod, ExplainRefinement } from '../explain/types.ts';
import type { BundleManifest } from '../infer/bundle.ts';
import type { ExplainJson, ModelInfo, OodJson, TagResponse, WireTag } from '../wire.ts';

export const runsOnServer = (model: ModelInfo) => model.runs?.includes('server') ?? true;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const KEY_STORE = 'tagbooru-api-key';

export class Api {
  private key: string | null = sessionStorage.getItem(KEY_STORE);

  setKey(key: string): void {
    this.key = key;
    sessionStorage.setItem(KEY_STORE, key);
  }

  headers(): Record<string, string> {
    return this.key ? { 'X-API-Key': this.key } : {};
  }

  private async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const response = await fetch(url, { ...init, headers: { ...this.headers(), ...(init.headers as Record<string, string> | undefined) } });
    if (response.ok) return response;
    let code = `HTTP ${response.status}`, message = response.statusText;
    try {
      const body = (await response.json()) as { error?: string; message?: string };
      code = body.error ?? code;
      message = body.message ?? message;
    } catch {
      // not our JSON error shape; the status says enough
    }
    throw new ApiError(response.status, code, message);
  }

  async models(): Promise<ModelInfo[]> {
    return ((await (await this.fetch('/v1/models')).json()) as { models: ModelInfo[] }).models;
  }

  async manifest(model: ModelInfo): Promise<BundleManifest> {
    return (await (await this.fetch(model.files.manifest)).json()) as BundleManifest;
  }

  /**
   * Every score ≥ floor, so the page can re-select at any threshold above it without asking again, and the
   * out-of-distribution verdict when the model has one.
   */
  async tag(image: Blob, name: string, floor: number): Promise<{ scores: readonly WireTag[]; ood: OodJson | null }> {
    const form = new FormData();
    form.append('file', image, name);
    form.append('floor', String(floor));
    const body = (await (await this.fetch('/v1/tag', { method: 'POST', body: form })).json()) as TagResponse;
    const [result] = body.results;
    if (!result) throw new ApiError(500, 'E_INTERNAL', 'the server returned no result');
    if (result.error !== null) throw new ApiError(400, 'E_IMAGE', result.error);
    return { scores: result.scores ?? [], ood: result.ood ?? null };
  }

  /** Where each of `tags` is in the image, by `method` (brought to the image's edges by `refine`): boxes, peaks and maps (grey PNG data URLs). */
  async explain(image: Blob, name: string, method: ExplainMethod, tags: readonly string[], refine: ExplainRefinement = 'none'): Promise<ExplainJson> {
    const form = new FormData();
    form.append('file', image, name);
    form.append('method', method);
    form.append('tags', tags.join(','));
    if (refine !== 'none') form.append('refine', refine);
    return (await (await this.fetch('/v1/explain', { method: 'POST', body: form })).json()) as ExplainJson;
  }

  /** The model file, with progress when the server says its length. */
  async bytes(url: string, onProgress: (loaded: number, total: number) => void): Promise<Uint8Array> {
    const response = await this.fetch(url);
    const total = Number(response.headers.get('Content-Length') ?? 0);
    if (!response.body) return new Uint8Array(await response.arrayBuffer());
    const chunks: Uint8Array[] = [];
    let loaded = 0;
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.length;
      onProgress(loaded, total);
    }
    const out = new Uint8Array(loaded);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}
