/**
 * What the generator draws, as data: the default settings draw exactly what generator version 2 drew
 * (same seed, same images and tags); the presets widen one habit each, or all of them (`wide`).
 */
import { TagbooruError, expectNumberInRange } from '../../errors.ts';

/** The DiceBear styles with tag tables (character.ts draws them): here, so the CLI lists them without loading DiceBear. */
export const STYLE_NAMES = ['lorelei', 'adventurer', 'micah'] as const;
export type StyleName = (typeof STYLE_NAMES)[number];

export const RENDERINGS = ['colour', 'greyscale', 'monochrome', 'lineart'] as const;
export type Rendering = (typeof RENDERINGS)[number];

export const CORRUPTIONS = ['blur', 'noise', 'jpeg', 'scan', 'downscale'] as const;
export type Corruption = (typeof CORRUPTIONS)[number];

/** A corruption's probability per image and the range its strength is drawn from (units in look.ts). */
export interface CorruptionSetting {
  p: number;
  range: readonly [number, number];
}

export interface GeneratorSettings {
  /** Styles drawn, each equally likely. */
  styles: readonly StyleName[];
  /** `legacy`: 1–3 characters in fixed slots, as version 2; `free`: `characters` anywhere, of `faceSize`. */
  layout: 'legacy' | 'free';
  /** Free layout: the number of characters, drawn uniformly from this range. */
  characters: readonly [number, number];
  /** Free layout: a character's side as a fraction of the image side, drawn log-uniformly. */
  faceSize: readonly [number, number];
  /**
   * Free layout: null draws every character's size on its own; a factor k ≥ 1 first draws the image's scale from
   * `faceSize`, then each character within ×1/k–×k of it (clipped to `faceSize`), so the number of characters
   * says nothing about how large they are (independent draws make a crowd's largest face grow with its size).
   */
  faceSizeSpread: number | null;
  /** Free layout: characters may stand partly outside the frame (what is cut off is not tagged). */
  crop: boolean;
  /** Relative weights of the renderings. */
  rendering: Partial<Record<Rendering, number>>;
  /** `palette`: the fixed shades of palette.ts; `wide`: any colour of the bands of colour-bands.ts. */
  colours: 'palette' | 'wide';
  /** Wide colours near a band edge: drawn again (`avoid`) or drawn and their tags recorded as unknown. */
  ambiguous: 'avoid' | 'unknown';
  corruptions: Partial<Record<Corruption, CorruptionSetting>>;
}

/** Strength ranges when a setting names only a probability (see look.ts for the units). */
export const CORRUPTION_RANGES = {
  blur: [0.6, 2], // Gaussian sigma, pixels at 256 px
  noise: [4, 20], // Gaussian sigma, levels of 255
  jpeg: [12, 55], // quality
  scan: [0.4, 1], // strength
  downscale: [0.3, 0.7], // factor, then scaled back up
} as const satisfies Record<Corruption, readonly [number, number]>;

export const DEFAULT_SETTINGS: GeneratorSettings = {
  styles: ['lorelei', 'adventurer'],
  layout: 'legacy',
  characters: [1, 3],
  faceSize: [0.42, 1],
  faceSizeSpread: null,
  crop: false,
  rendering: { colour: 1 },
  colours: 'palette',
  ambiguous: 'avoid',
  corruptions: {},
};

const every = (p: number) => Object.fromEntries(Object.entries(CORRUPTION_RANGES).map(([k, range]) => [k, { p, range }])) as GeneratorSettings['corruptions'];

const WIDE = {
  layout: 'free', characters: [1, 6], faceSize: [0.12, 1], crop: true, colours: 'wide', ambiguous: 'unknown',
  rendering: { colour: 0.7, greyscale: 0.12, monochrome: 0.08, lineart: 0.1 }, corruptions: every(0.1),
} as const satisfies Partial<GeneratorSettings>;

/**
 * `wide` widens every habit at once (for training); each `shifted-*` set changes one habit of the default
 * generator that its training set never saw (for held-out sets, docs/generator.md).
 */
export const PRESETS = {
  default: {},
  wide: WIDE,
  /** `wide` with the characters of one image at one scale: crowds of small faces, which `wide` almost never draws. */
  'wide-scaled': { ...WIDE, faceSizeSpread: 1.5 },
  'shifted-style': { styles: ['micah'] },
  'shifted-monochrome': { rendering: { greyscale: 2, monochrome: 1, lineart: 1 } },
  'shifted-one-face': { layout: 'free', characters: [1, 1], faceSize: [0.92, 1], crop: false },
  'shifted-tiny': { layout: 'free', characters: [1, 6], faceSize: [0.1, 0.22], crop: false },
  'shifted-jpeg': { corruptions: { jpeg: { p: 1, range: [5, 15] } } },
  'shifted-downscale': { corruptions: { downscale: { p: 1, range: [0.5, 0.5] } } },
} as const satisfies Record<string, Partial<GeneratorSettings>>;

export type PresetName = keyof typeof PRESETS;

export function presetSettings(name: string): GeneratorSettings {
  if (!(name in PRESETS)) throw new TagbooruError('E_USAGE', `Unknown preset "${name}". Known: ${Object.keys(PRESETS).join(', ')}`);
  return { ...DEFAULT_SETTINGS, ...(PRESETS[name as PresetName] as Partial<GeneratorSettings>) };
}

/** Settings from a library caller are checked once, at the boundary, with the range each value may take. */
export function checkSettings(s: GeneratorSettings): GeneratorSettings {
  if (s.styles.length === 0 || s.styles.some((st) => !(STYLE_NAMES as readonly string[]).includes(st))) {
    throw new TagbooruError('E_USAGE', `Expected styles from ${STYLE_NAMES.join(', ')} but received ${JSON.stringify(s.styles)}`);
  }
  s.characters.forEach((n) => expectNumberInRange('characters', n, 1, MAX_CHARACTERS, true));
  s.faceSize.forEach((f) => expectNumberInRange('faceSize', f, 0.02, 1));
  if (s.faceSizeSpread !== null) expectNumberInRange('faceSizeSpread', s.faceSizeSpread, 1, MAX_FACE_SIZE_SPREAD);
  if (s.characters[0] > s.characters[1] || s.faceSize[0] > s.faceSize[1]) throw new TagbooruError('E_USAGE', 'Expected characters and faceSize as [low, high] ranges');
  const weights = Object.values(s.rendering);
  weights.forEach((w) => expectNumberInRange('rendering weight', w, 0, 1000));
  if (!weights.some((w) => w > 0)) throw new TagbooruError('E_USAGE', `Expected some rendering weight above 0 (${RENDERINGS.join(', ')}) but received ${JSON.stringify(s.rendering)}`);
  for (const c of Object.values(s.corruptions)) expectNumberInRange('corruption probability', c.p, 0, 1);
  return s;
}

/** Whether these settings draw what generator version 2 drew (tags.txt, recipes and rng stream included). */
export function isDefault(s: GeneratorSettings): boolean {
  return JSON.stringify(s) === JSON.stringify(DEFAULT_SETTINGS);
}

/** The most characters a scene may hold (6+others counts the rest). */
export const MAX_CHARACTERS = 8;
/** The widest `faceSizeSpread`: beyond it the sizes are as good as drawn alone within any `faceSize`. */
export const MAX_FACE_SIZE_SPREAD = 50;
