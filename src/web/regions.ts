/**
 * The regions of one image, per method and tag: asked for once for every listed tag (one request per method),
 * computed in this browser where the in-browser mode can (CAM), and sent to the server from that mode only with
 * the user's consent.
 */
import type { Box, ExplainMethod, ExplainRefinement } from '../explain/types.ts';
import type { ValueMap } from '../image/heatmap.ts';

/** One tag's region: box and peak in image pixels, the map as a grey PNG data URL (server) or bytes (here). */
export interface Region {
  readonly name: string;
  readonly box: Box | null;
  readonly peak: readonly [number, number];
  readonly map: string | ValueMap;
}

export interface Regions {
  readonly width: number;
  readonly height: number;
  readonly tags: readonly Region[];
}

/** What a map is asked for with: the method, and how it is brought to the image's edges. */
export interface MapKind {
  readonly method: ExplainMethod;
  readonly refine: ExplainRefinement;
}
const keyOf = (kind: MapKind) => `${kind.method}+${kind.refine}`;

export interface RegionSource {
  /** `browser`: the page tags in this browser, and sends the image to the server only with the user's consent. */
  readonly mode: () => 'server' | 'browser';
  /** The regions computed in this browser, or null when the method cannot run here. */
  readonly local: (image: Blob, kind: MapKind, tags: readonly string[]) => Promise<Regions | null>;
  readonly server: (image: Blob, name: string, kind: MapKind, tags: readonly string[]) => Promise<Regions>;
  /** False for a model offered to the browser only: the server would explain its own model instead. */
  readonly serverRuns: () => boolean;
}

/** The regions need the server, and the in-browser page has not been allowed to send the image. */
export class ConsentNeeded extends Error {}

export class ImageRegions {
  /** Per kind of map, per tag: its region, or null when no map came for it. */
  private readonly known = new Map<string, Map<string, Region | null>>();
  private readonly asking = new Map<string, Promise<void>>();
  /** The image's size, once a first answer has told it. */
  size: { width: number; height: number } | null = null;
  /** Sending the image to the server from the in-browser mode: allowed once the user says so. */
  consented = false;

  constructor(
    private readonly image: Blob,
    private readonly name: string,
    private readonly source: RegionSource,
  ) {}

  /** Known already: the region, null for none, undefined when it must be asked for. */
  cached(kind: MapKind, tag: string): Region | null | undefined {
    return this.known.get(keyOf(kind))?.get(tag);
  }

  /** The tag's region of this kind; `listed` are asked for with it, so the next tag is at hand. */
  async get(kind: MapKind, tag: string, listed: readonly string[]): Promise<Region | null> {
    const key = keyOf(kind);
    // a request under way for this kind may bring the tag
    for (let pending = this.asking.get(key); pending; pending = this.asking.get(key)) await pending.catch(() => undefined);
    const cached = this.cached(kind, tag);
    if (cached !== undefined) return cached;
    const table = this.known.get(key) ?? new Map<string, Region | null>();
    const wanted = [...new Set([tag, ...listed])].filter((t) => !table.has(t));
    const request: Promise<void> = this.ask(kind, wanted).then((answer) => {
      this.size = { width: answer.width, height: answer.height };
      for (const t of wanted) table.set(t, answer.tags.find((r) => r.name === t) ?? null);
      this.known.set(key, table);
    }).finally(() => {
      if (this.asking.get(key) === request) this.asking.delete(key);
    });
    this.asking.set(key, request);
    await request;
    return table.get(tag) ?? null;
  }

  private async ask(kind: MapKind, tags: readonly string[]): Promise<Regions> {
    const browser = this.source.mode() === 'browser';
    const here = browser ? await this.source.local(this.image, kind, tags) : null;
    if (here) return here;
    if (!this.source.serverRuns()) throw new Error('this map cannot be made in this browser for this model, and the server does not run it');
    if (browser && !this.consented) throw new ConsentNeeded();
    return this.source.server(this.image, this.name, kind, tags);
  }
}
