/**
 * The model picker in the header, shown when the server offers more than one model: the one it runs, and those
 * it offers to the in-browser mode only (`tagbooru serve --browser-model`), which are labelled so.
 */
import type { ModelInfo } from '../wire.ts';
import { runsOnServer } from './api.ts';

export class ModelPicker {
  private models: readonly ModelInfo[] = [];

  constructor(
    private readonly wrap: HTMLElement,
    private readonly select: HTMLSelectElement,
    onPick: (model: ModelInfo) => void,
  ) {
    select.addEventListener('change', () => {
      const model = this.models.find((m) => m.id === select.value);
      if (model) onPick(model);
    });
  }

  /** Shown, naming the chosen model itself. */
  get shown(): boolean {
    return !this.wrap.hidden;
  }

  /** Offer `models`, keeping `current` chosen when it is still offered; the chosen one is returned. */
  list(models: readonly ModelInfo[], current: string | null): ModelInfo {
    this.models = models;
    this.select.replaceChildren(...models.map((m) => {
      const where = runsOnServer(m) ? '' : ' · in this browser only';
      return new Option(`${m.name}${where}`, m.id);
    }));
    const chosen = models.find((m) => m.id === current) ?? models[0]!;
    this.select.value = chosen.id;
    this.wrap.hidden = models.length < 2;
    return chosen;
  }
}
