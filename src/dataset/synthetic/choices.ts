/**
 * Every choice behind one image, flat enough to slice a test set by (`metrics --by style`): stored per
 * post in `tagbooru_choices` (docs/generator.md).
 */
import type { StyleName } from './character.ts';
import type { Corruption, Rendering } from './settings.ts';
import type { SceneRecipe } from './recipe.ts';
import type { RenderedScene } from './render.ts';

export interface ImageChoices {
  /** The `--preset` the image was made with. */
  preset: string;
  /** One style, or `mixed` when characters of several styles share the image. */
  style: StyleName | 'mixed';
  styles: StyleName[];
  characters: number;
  visibleCharacters: number;
  /** Smallest and largest character side, fractions of the image side. */
  faceSize: { min: number; max: number };
  /** Some character stands partly outside the frame. */
  cropped: boolean;
  rendering: Rendering;
  monochrome: boolean;
  background: SceneRecipe['background']['kind'];
  /** Strength of each corruption drawn (units in look.ts). */
  corruptions: Partial<Record<Corruption, number>>;
  /** Each tagged part: its tags, the pixels seen, its share inside the frame and whether it was kept. */
  parts: { character: number; style: StyleName; name: string; tags: string[]; visible: number; inFrame: number; kept: boolean }[];
}

const round = (v: number) => Math.round(v * 1000) / 1000;

export function imageChoices(preset: string, recipe: SceneRecipe, scene: RenderedScene): ImageChoices {
  const styles = [...new Set(recipe.characters.map((c) => c.style))].sort();
  const sizes = recipe.characters.map((c) => c.size);
  const rendering = recipe.look?.rendering ?? 'colour';
  return {
    preset,
    style: styles.length === 1 ? styles[0]! : 'mixed',
    styles,
    characters: recipe.characters.length,
    visibleCharacters: scene.visibleCharacters,
    faceSize: { min: round(Math.min(...sizes)), max: round(Math.max(...sizes)) },
    cropped: scene.characters.some((c) => c.inFrame < 1),
    rendering,
    monochrome: rendering !== 'colour',
    background: recipe.background.kind,
    corruptions: Object.fromEntries(Object.entries(recipe.look?.corruptions ?? {}).map(([k, v]) => [k, round(v)])),
    parts: scene.parts.map((p) => ({
      character: p.character, style: recipe.characters[p.character]!.style, name: p.name, tags: p.tags, visible: p.visible, inFrame: round(p.inFrame), kept: p.kept,
    })),
  };
}

/** `metrics --by face-size`: the largest character's side (fraction of the image side) in quarters. */
const FACE_SIZE_BUCKETS = ['0–0.25', '0.25–0.5', '0.5–0.75', '0.75–1'] as const;

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * The slices of `metrics --by <key>` one image belongs to, from its recorded choices: each scalar field under
 * its kebab-case name (`style`, `rendering`, `characters`, `visible-characters`, `cropped`, …), `face-size`
 * bucketed, and the multi-valued `styles` and `corruption` (an image with blur and JPEG is in both slices; one
 * with none in `none`). Only the keys the document has: an older generator's choices give fewer.
 */
export function choiceSlices(choices: unknown): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (choices === null || typeof choices !== 'object') return out;
  for (const [key, value] of Object.entries(choices)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out.set(kebab(key), [String(value)]);
  }
  const c = choices as Partial<ImageChoices>;
  const largest = c.faceSize?.max;
  if (typeof largest === 'number') out.set('face-size', [FACE_SIZE_BUCKETS[Math.min(3, Math.max(0, Math.floor(largest * 4)))]!]);
  if (Array.isArray(c.styles)) out.set('styles', c.styles.map(String));
  if (c.corruptions && typeof c.corruptions === 'object') {
    const kinds = Object.keys(c.corruptions).sort();
    out.set('corruption', kinds.length ? kinds : ['none']);
  }
  return out;
}
