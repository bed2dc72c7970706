/**
 * "Where is the tag?": hovering, focusing or selecting a tag in the list lays its map over the image, a
 * semi-transparent heat map with the region's box (heat-layer.ts), from the image's regions (regions.ts). The
 * tag shown is the one under the pointer, else the focused one, else the selected one; the state is announced
 * in a polite live region.
 */
import type { ExplainMethod, ExplainRefinement } from '../explain/types.ts';
import type { ValueMap } from '../image/heatmap.ts';
import { greyOf, HeatLayer } from './heat-layer.ts';
import { ConsentNeeded, ImageRegions, type MapKind, type Region, type RegionSource } from './regions.ts';

export interface WhereElements {
  readonly preview: HTMLImageElement;
  readonly canvas: HTMLCanvasElement;
  readonly box: HTMLElement;
  readonly controls: HTMLFieldSetElement;
  readonly method: HTMLSelectElement;
  readonly refine: HTMLSelectElement;
  readonly opacity: HTMLInputElement;
  readonly opacityValue: HTMLOutputElement;
  readonly status: HTMLElement;
  readonly consent: HTMLButtonElement;
  readonly tags: HTMLElement;
}

const IDLE = 'Hover, focus or select a tag to see where it is in the image.';
const METHOD_NAMES: Readonly<Record<ExplainMethod, string>> = { cam: 'CAM', gradcam: 'Grad-CAM', scorecam: 'Score-CAM', saliency: 'saliency' };
const REFINE_NAMES: Readonly<Record<ExplainRefinement, string>> = { none: '', guided: ' along the edges', segments: ' over the image\'s regions' };
const BUTTONS = 'li.tag button.name';

export class WhereOverlay {
  private readonly layer: HeatLayer;
  private regions: ImageRegions | null = null;
  private readonly greys = new WeakMap<Region, Promise<ValueMap>>();
  private hover: string | null = null;
  private focus: string | null = null;
  private pinned: string | null = null;
  /** The tag whose region waits for the user's consent to send the image. */
  private waiting: string | null = null;

  constructor(
    private readonly el: WhereElements,
    private readonly source: RegionSource,
  ) {
    this.layer = new HeatLayer(el.preview, el.canvas, el.box);
    const tagOf = (e: Event) => (e.target as Element | null)?.closest<HTMLElement>('li.tag')?.dataset.tag ?? null;
    el.tags.addEventListener('pointerover', (e) => this.set('hover', tagOf(e) ?? this.hover));
    el.tags.addEventListener('pointerleave', () => this.set('hover', null));
    el.tags.addEventListener('focusin', (e) => this.set('focus', tagOf(e)));
    el.tags.addEventListener('focusout', () => this.set('focus', null));
    el.tags.addEventListener('click', (e) => {
      const tag = (e.target as Element).closest('button.name') ? tagOf(e) : null;
      if (tag) this.pin(this.pinned === tag ? null : tag);
    });
    el.tags.addEventListener('keydown', (e) => this.key(e));
    el.method.addEventListener('change', () => void this.update());
    el.refine.addEventListener('change', () => void this.update());
    el.opacity.addEventListener('input', () => {
      el.opacityValue.value = `${Math.round(this.opacity * 100)}%`;
      this.layer.paint(this.opacity);
    });
    el.consent.addEventListener('click', () => {
      if (this.regions) this.regions.consented = true;
      el.consent.hidden = true;
      this.pin(this.pinned ?? this.waiting); // show what was asked for, now that it may be computed
    });
    this.say(IDLE);
  }

  /** A new image: nothing known, nothing shown, nothing allowed. */
  setImage(blob: Blob, name: string): void {
    this.regions = new ImageRegions(blob, name, this.source);
    this.hover = this.focus = this.pinned = this.waiting = null;
    this.el.controls.disabled = true;
    this.hide(IDLE);
  }

  /** The tag list was drawn again (new scores, a slider moved): keep the selection where it still is. */
  listed(): void {
    const names = new Set(this.listedTags());
    if (this.pinned && !names.has(this.pinned)) this.pinned = null;
    if (this.hover && !names.has(this.hover)) this.hover = null;
    this.el.controls.disabled = names.size === 0;
    this.pressed();
    void this.update();
  }

  /** Offer only the methods the model has (the gradient ones need its training weights). */
  offer(methods: readonly ExplainMethod[]): void {
    for (const option of this.el.method.options) option.disabled = !methods.includes(option.value as ExplainMethod);
    if (this.el.method.selectedOptions[0]?.disabled) this.el.method.value = methods[0] ?? 'cam';
  }

  /** The mode changed: the consent question may now apply, or no longer. */
  modeChanged(): void {
    void this.update();
  }

  private get method(): ExplainMethod {
    return this.el.method.value as ExplainMethod;
  }

  private get kind(): MapKind {
    return { method: this.method, refine: this.el.refine.value as ExplainRefinement };
  }

  private get opacity(): number {
    return Number(this.el.opacity.value);
  }

  private get current(): string | null {
    return this.hover ?? this.focus ?? this.pinned;
  }

  private listedTags(): string[] {
    return [...this.el.tags.querySelectorAll<HTMLElement>('li.tag')].map((li) => li.dataset.tag!);
  }

  private set(which: 'hover' | 'focus', tag: string | null): void {
    if (this[which] === tag) return;
    this[which] = tag;
    void this.update();
  }

  private pin(tag: string | null): void {
    this.pinned = tag;
    this.pressed();
    void this.update();
  }

  private pressed(): void {
    for (const b of this.el.tags.querySelectorAll<HTMLButtonElement>(BUTTONS)) {
      b.setAttribute('aria-pressed', String(b.closest<HTMLElement>('li.tag')!.dataset.tag === this.pinned));
    }
  }

  /** Up and down walk the tag buttons; Escape clears the selection. */
  private key(e: KeyboardEvent): void {
    if (e.key === 'Escape' && this.pinned) return this.pin(null);
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const buttons = [...this.el.tags.querySelectorAll<HTMLButtonElement>(BUTTONS)];
    const at = buttons.indexOf(e.target as HTMLButtonElement);
    if (at < 0) return;
    e.preventDefault();
    buttons[Math.max(0, Math.min(buttons.length - 1, at + (e.key === 'ArrowDown' ? 1 : -1)))]!.focus();
  }

  /** Show the tag of the moment; a later moment wins over a late answer. */
  private async update(): Promise<void> {
    const { current: tag, kind, regions } = this;
    const { method } = kind;
    if (!tag || !regions) return this.hide(IDLE);
    const stale = () => regions !== this.regions || tag !== this.current || method !== this.method || kind.refine !== this.el.refine.value;
    this.el.consent.hidden = true;
    try {
      if (regions.cached(kind, tag) === undefined) this.say(`Finding where the tags are (${METHOD_NAMES[method]})…`);
      const region = await regions.get(kind, tag, this.listedTags());
      if (stale()) return;
      if (!region) return this.hide(`${METHOD_NAMES[method]} gives no map for ${tag}.`);
      let grey = this.greys.get(region);
      if (!grey) this.greys.set(region, (grey = greyOf(region.map)));
      const map = await grey;
      if (stale()) return;
      this.layer.show({ tag, map, box: region.box, image: regions.size! }, this.opacity);
      this.announce(tag, kind, region, regions.size!);
    } catch (e) {
      if (regions !== this.regions) return;
      if (!(e instanceof ConsentNeeded)) return this.hide(`Cannot show where ${tag} is: ${e instanceof Error ? e.message : String(e)}`);
      this.waiting = tag;
      this.el.consent.hidden = false;
      this.hide(`${METHOD_NAMES[method]} does not run in this browser for this model: it needs the server, which means sending this image there.`);
    }
  }

  private announce(tag: string, { method, refine }: MapKind, region: Region, size: { width: number; height: number }): void {
    const b = region.box;
    const where = b
      ? `its region spans x ${Math.round(b[0])}–${Math.round(b[2])}, y ${Math.round(b[1])}–${Math.round(b[3])} of ${size.width}×${size.height} pixels`
      : 'no region stands out';
    this.say(`Showing where ${tag} is (${METHOD_NAMES[method]}${REFINE_NAMES[refine]}${tag === this.pinned ? ', selected' : ''}): ${where}.`);
  }

  private hide(message: string): void {
    this.layer.hide();
    this.say(message);
  }

  private say(text: string): void {
    if (this.el.status.textContent !== text) this.el.status.textContent = text;
  }
}
