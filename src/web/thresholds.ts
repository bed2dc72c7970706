/**
 * The general and character sliders and the MCut switch. A slider nobody has moved leaves the bundle's own
 * thresholds in force, per-tag ones included (a trained bundle calibrates each tag); once moved, it sets one
 * threshold for its whole category. "Model defaults" goes back.
 */
import type { BundleManifest } from '../infer/bundle.ts';
import type { SelectionOptions } from '../infer/selection.ts';

type Slider = 'general' | 'character';
const SLIDERS: readonly Slider[] = ['general', 'character'];

export interface ThresholdElements {
  readonly inputs: Record<Slider, HTMLInputElement>;
  readonly outputs: Record<Slider, HTMLOutputElement>;
  readonly mcut: HTMLInputElement;
  readonly reset: HTMLButtonElement;
}

export class ThresholdControls {
  private readonly moved = new Set<Slider>();
  private manifest: BundleManifest | null = null;

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
    for (const s of SLIDERS) this.el.inputs[s].value = String(Math.min(1, Math.max(this.floor, t.categories?.[s] ?? t.default)));
    this.render();
  }

  /** What the selection should use: only the sliders that were moved, and MCut. */
  options(): SelectionOptions {
    const categoryThresholds: Record<string, number> = {};
    for (const s of this.moved) categoryThresholds[s] = this.value(s);
    return { categoryThresholds, mcut: this.el.mcut.checked };
  }

  /** For the JSON download: a number per slider, `model` where the bundle's per-tag thresholds apply. */
  describe(): 'mcut' | Record<Slider, number | 'model'> {
    if (this.el.mcut.checked) return 'mcut';
    return { general: this.shown('general'), character: this.shown('character') };
  }

  private value(s: Slider): number {
    return Number(this.el.inputs[s].value);
  }

  private shown(s: Slider): number | 'model' {
    return !this.moved.has(s) && Object.keys(this.manifest?.thresholds.tags ?? {}).length > 0 ? 'model' : this.value(s);
  }

  private render(): void {
    const hasCharacters = this.manifest?.tags.some((t) => t.category === 'character') ?? false;
    for (const s of SLIDERS) {
      const shown = this.shown(s);
      this.el.outputs[s].value = shown === 'model' ? 'model' : shown.toFixed(2);
      this.el.outputs[s].title = shown === 'model' ? 'the per-tag thresholds of the model bundle; move the slider to set one for all' : '';
    }
    this.el.inputs.general.disabled = this.el.mcut.checked;
    this.el.inputs.character.disabled = this.el.mcut.checked || !hasCharacters;
    this.el.inputs.character.title = hasCharacters ? '' : 'This model has no character tags';
    this.el.reset.disabled = this.moved.size === 0 && !this.el.mcut.checked;
  }
}
