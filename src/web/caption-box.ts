/**
 * The caption box: the selected tags as a caption, made and parsed by the library's caption module, as the CLI's
 * `--save-txt` and `/v1/tag`'s `caption` are, so one setting writes the same text in all three. The settings
 * are kept in localStorage.
 */
import { compileCaptionText, parseCaptionOptions, type CaptionOptions, type RawCaptionOptions } from '../infer/caption.ts';
import type { Selection } from '../infer/selection.ts';

export interface CaptionBoxElements {
  readonly text: HTMLTextAreaElement;
  readonly separator: HTMLInputElement;
  readonly maxTags: HTMLInputElement;
  readonly replace: HTMLInputElement;
  readonly characterFirst: HTMLInputElement;
  readonly escapeParens: HTMLInputElement;
  readonly error: HTMLElement;
}

const STORAGE_KEY = 'tagbooru.caption';
/** The box writes `long hair`, as prompts do; the CLI keeps `long_hair` unless asked. */
const BASE: CaptionOptions = { replaceUnderscores: true };

type Saved = { separator: string; maxTags: string; replace: string; characterFirst: boolean; escapeParens: boolean };

export class CaptionBox {
  private selection: Pick<Selection, 'tags' | 'rating'> | null = null;
  private textOf = compileCaptionText(BASE);

  /** The box as index.html lays it out around the caption's textarea. */
  static inPage(text: HTMLTextAreaElement): CaptionBox {
    const input = (id: string) => document.getElementById(id) as HTMLInputElement;
    return new CaptionBox({
      text,
      separator: input('caption-separator'),
      maxTags: input('caption-max-tags'),
      replace: input('caption-replace'),
      characterFirst: input('caption-character-first'),
      escapeParens: input('caption-escape'),
      error: document.getElementById('caption-error')!,
    });
  }

  constructor(private readonly el: CaptionBoxElements) {
    this.restore();
    for (const input of [el.separator, el.maxTags, el.replace, el.characterFirst, el.escapeParens]) input.addEventListener('input', () => this.update());
    this.update();
  }

  show(selection: Pick<Selection, 'tags' | 'rating'>): void {
    this.selection = selection;
    this.render();
  }

  /** Each text field parsed alone first, so the one in error is marked; a bad value keeps the last good caption. */
  private update(): void {
    const { el } = this;
    const fields: [HTMLInputElement, RawCaptionOptions][] = [
      // empty means the default, as an absent flag does
      [el.separator, { 'caption-separator': el.separator.value || undefined }],
      [el.maxTags, { 'max-tags': el.maxTags.value.trim() || undefined }],
      [el.replace, { replace: el.replace.value.trim() ? [el.replace.value] : undefined }],
    ];
    const errors: string[] = [];
    let options: CaptionOptions = { ...BASE, characterFirst: el.characterFirst.checked, escapeParens: el.escapeParens.checked };
    for (const [input, raw] of fields) {
      try {
        options = { ...options, ...parseCaptionOptions(raw) };
        input.removeAttribute('aria-invalid');
      } catch (e) {
        input.setAttribute('aria-invalid', 'true');
        errors.push(e instanceof Error ? e.message : String(e));
      }
    }
    el.error.textContent = errors.join(' ');
    el.error.hidden = errors.length === 0;
    if (errors.length === 0) this.textOf = compileCaptionText(options);
    this.save();
    this.render();
  }

  private render(): void {
    if (this.selection) this.el.text.value = this.textOf(this.selection);
  }

  private save(): void {
    const { el } = this;
    const saved: Saved = { separator: el.separator.value, maxTags: el.maxTags.value, replace: el.replace.value, characterFirst: el.characterFirst.checked, escapeParens: el.escapeParens.checked };
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(saved));
    } catch {
      // storage off (private mode, a full quota): the settings last as long as the page
    }
  }

  private restore(): void {
    let saved: Partial<Saved> | null = null;
    try {
      saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null') as Partial<Saved> | null;
    } catch {
      return;
    }
    if (!saved || typeof saved !== 'object') return;
    const { el } = this;
    if (typeof saved.separator === 'string') el.separator.value = saved.separator;
    if (typeof saved.maxTags === 'string') el.maxTags.value = saved.maxTags;
    if (typeof saved.replace === 'string') el.replace.value = saved.replace;
    if (typeof saved.characterFirst === 'boolean') el.characterFirst.checked = saved.characterFirst;
    if (typeof saved.escapeParens === 'boolean') el.escapeParens.checked = saved.escapeParens;
  }
}
