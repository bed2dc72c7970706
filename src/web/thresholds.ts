/**
 * The general and character sliders and the MCut switch. A slider nobody has moved leaves the bundle's own
 * thresholds in force, per-tag ones included (a trained bundle calibrates each tag): it shows the threshold of
 * the tags without their own, and the note under the sliders says how many have their own. Once moved, a
 * slider sets one threshold for its whole category. "Model defaults" goes back.
 */
import type { BundleManifest } from '../infer/bundle.ts';
import { normaliseTag, RATING_CATEGORY, type SelectionOptions } from '../infer/selection.ts';

type Slider = 'general' | 'character';
const SLIDERS: readonly Slider[] = ['general', 'character'];

export interface ThresholdElements {
  readonly inputs: Record<Slider, HTMLInputElement>;
  readonly outputs: Record<Slider, HTMLOutputElement>;
  readonly mcut: HTMLInputElement;
  readonly reset: HTMLButtonElement;
  /** Says where the bundle's per-tag thresholds apply. */
  readonly note: HTMLElement;
}

/** The bundle's per-tag thresholds of one slider's category, and how many tags the category has. */
interface OwnThresholds {
  readonly values: readonly number[];
  readonly of: number;
}

export class ThresholdControls {
  private readonly moved = new Set<Slider>();
  private manifest: BundleManifest | null = null;
  private own: Record<Slider, OwnThresholds> = { general: { values: [], of: 0 }, character: { values: [], of: 0 } };
  /** The bundle's per-tag thresholds, keyed as the selection keys them, so what is counted is what applies. */
  private perTag = new Map<string, number>();

  constructor(
    private readonly el: ThresholdElements,
    private readonly floor: number,
    onChange: () => void,
  ) {
    for (const s of SLIDERS) {
      el.inputs[s].addEventListener('input', () => {
        this.moved.add(s);
        this.render();
        onChange();
      });
    }
    el.mcut.addEventListener('change', () => (this.render(), onChange()));
    el.reset.addEventListener('click', () => {
      if (this.manifest) this.use(this.manifest);
      onChange();
    });
  }

  /** Sliders at the bundle's defaults, nothing moved, MCut off. */
  use(manifest: BundleManifest): void {
    this.manifest = manifest;
    this.moved.clear();
    this.el.mcut.checked = false;
    const t = manifest.thresholds;
    this.perTag = new Map(Object.entries(t.tags ?? {}).map(([name, v]) => [normaliseTag(name), v]));
    for (const s of SLIDERS) {
      const tags = manifest.tags.filter((tag) => tag.category === s);
      this.own[s] = { values: tags.flatMap((tag) => this.perTag.get(normaliseTag(tag.name)) ?? []), of: tags.length };
      this.el.inputs[s].value = String(Math.min(1, Math.max(this.floor, t.categories?.[s] ?? t.default)));
    }
    this.render();
  }

  /** What the selection should use: only the sliders that were moved, and MCut. */
  options(): SelectionOptions {
    const categoryThresholds: Record<string, number> = {};
    for (const s of this.moved) categoryThresholds[s] = this.value(s);
    return { categoryThresholds, mcut: this.el.mcut.checked };
  }

  /** For the JSON download: each slider's number, and `tags`, the bundle's per-tag thresholds still in force. */
  describe(): 'mcut' | (Record<Slider, number> & { readonly tags?: Record<string, number> }) {
    if (this.el.mcut.checked) return 'mcut';
    // a moved slider overrides its category's; the categories without a slider keep theirs (the rating is an argmax)
    const overridden = new Set<string>([...this.moved, RATING_CATEGORY]);
    const tags = Object.fromEntries((this.manifest?.tags ?? []).flatMap((tag) => {
      const own = this.perTag.get(normaliseTag(tag.name));
      return own !== undefined && !overridden.has(tag.category) ? [[tag.name, own] as const] : [];
    }));
    return { general: this.value('general'), character: this.value('character'), ...(Object.keys(tags).length > 0 && { tags }) };
  }

  private value(s: Slider): number {
    return Number(this.el.inputs[s].value);
  }

  /** The bundle's per-tag thresholds of this slider's category decide: it has some, the slider is unmoved, MCut off. */
  private ownApply(s: Slider): boolean {
    return this.own[s].values.length > 0 && !this.moved.has(s) && !this.el.mcut.checked;
  }

  private render(): void {
    const hasCharacters = this.own.character.of > 0;
    const notes: string[] = [];
    for (const s of SLIDERS) {
      const own = this.ownApply(s);
      this.el.outputs[s].value = this.value(s).toFixed(2);
      this.el.outputs[s].title = own ? `for the ${s} tags without a threshold of their own` : '';
      if (own) notes.push(ownNote(s, this.own[s], this.value(s)));
    }
    if (notes.length > 0) notes.push('Moving a slider sets one threshold for all the tags of its category.');
    this.el.note.textContent = notes.join(' ');
    this.el.note.hidden = notes.length === 0;
    this.el.inputs.general.disabled = this.el.mcut.checked;
    this.el.inputs.character.disabled = this.el.mcut.checked || !hasCharacters;
    this.el.inputs.character.title = hasCharacters ? '' : 'This model has no character tags';
    this.el.reset.disabled = this.moved.size === 0 && !this.el.mcut.checked;
  }
}

/** "Per-tag thresholds: 1 of 6 general tags has its own (0.05); the others use 0.50." */
function ownNote(s: Slider, { values, of }: OwnThresholds, rest: number): string {
  const low = Math.min(...values), high = Math.max(...values);
  const range = low === high ? low.toFixed(2) : `${low.toFixed(2)}–${high.toFixed(2)}`;
  if (values.length === of) return `Per-tag thresholds: every ${s} tag (${of}) has its own, from the model (${range}).`;
  const count = `${values.length} of ${of} ${s} tags ${values.length === 1 ? 'has its' : 'have their'} own`;
  return `Per-tag thresholds: ${count}, from the model (${range}); the others use ${rest.toFixed(2)}.`;
}
