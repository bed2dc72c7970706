/**
 * project.json's `"augmentation"`: a preset name, per-op probabilities and ranges, and the label rules'
 * thresholds. DeepDanbooru's own keys (rotation_range, scale_range, shift_range) and tagbooru's older
 * flip_horizontal and corruption_probability stay where they are and keep their meaning; a preset sets
 * them too, and a key written in the file beats the preset. Without "augmentation" nothing changes.
 *
 *   "augmentation": { "preset": "+corruptions", "crop": { "probability": 0.6, "area": [0.2, 1] } }
 */
import { TagbooruError } from '../errors.ts';
import { AUGMENT_OPS, OP_NAMES, type OpName, type OpSetting } from '../image/index.ts';

type Range = readonly [number, number] | false;

/** The top-level keys a preset sets. */
export interface PresetTopLevel {
  readonly rotation_range: Range;
  readonly scale_range: Range;
  readonly shift_range: Range;
  readonly flip_horizontal: boolean;
  readonly corruption_probability: number;
}

export interface AugmentationSettings {
  readonly preset?: PresetName;
  /** A part (ground-truth mask) seen less than this share after crop, warp and cutout: its tag is unknown. */
  readonly part_visible_min: number;
  /** Without a mask: less than this share of the picture seen makes every localisable tag unknown. */
  readonly frame_visible_min: number;
  readonly ops: Partial<Record<OpName, OpSetting>>;
}

const DEEPDANBOORU: PresetTopLevel = { rotation_range: [0, 360], scale_range: [0.9, 1.1], shift_range: [-0.1, 0.1], flip_horizontal: false, corruption_probability: 0 };
const p = (probability: number): OpSetting => ({ probability });
const FLIPS_CROPS = { crop: p(0.5) };
const CORRUPTIONS = { ...FLIPS_CROPS, blur: p(0.1), downscale: p(0.15), noise: p(0.15), jpeg: p(0.2) };
const GREYSCALE = { ...CORRUPTIONS, greyscale: p(0.15) };

/** Cumulative, in the order of the ablation (training/ablation/): each adds to the one before. */
export const AUGMENTATION_PRESETS = {
  none: { top: { rotation_range: false, scale_range: false, shift_range: false, flip_horizontal: false, corruption_probability: 0 }, ops: {} },
  deepdanbooru: { top: DEEPDANBOORU, ops: {} },
  '+flips+crops': { top: { ...DEEPDANBOORU, flip_horizontal: true }, ops: FLIPS_CROPS },
  '+corruptions': { top: { ...DEEPDANBOORU, flip_horizontal: true }, ops: CORRUPTIONS },
  '+greyscale': { top: { ...DEEPDANBOORU, flip_horizontal: true }, ops: GREYSCALE },
  all: { top: { ...DEEPDANBOORU, flip_horizontal: true }, ops: { ...GREYSCALE, brightness: p(0.3), contrast: p(0.3), cutout: p(0.25) } },
} satisfies Record<string, { top: PresetTopLevel; ops: Partial<Record<OpName, OpSetting>> }>;

export type PresetName = keyof typeof AUGMENTATION_PRESETS;
export const PRESET_NAMES = Object.keys(AUGMENTATION_PRESETS) as PresetName[];

export const DEFAULT_AUGMENTATION: AugmentationSettings = { part_visible_min: 0.5, frame_visible_min: 0.5, ops: {} };

const THRESHOLDS = ['part_visible_min', 'frame_visible_min'] as const;

function fail(file: string, key: string, expected: string, got: unknown): never {
  throw new TagbooruError('E_USAGE', `${file}: "augmentation.${key}" must be ${expected}, got ${JSON.stringify(got)}`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const inUnit = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1;

/** An op's settings as written: "probability" may be left to the preset. */
function validateOp(file: string, op: OpName, raw: unknown): Partial<OpSetting> {
  if (!isObject(raw)) fail(file, op, `an object like { "probability": 0.5 }`, raw);
  const params = AUGMENT_OPS[op] as Record<string, { bounds: readonly [number, number]; unit: string }>;
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'probability') {
      if (!inUnit(value)) fail(file, `${op}.probability`, 'a number between 0 and 1', value);
      continue;
    }
    const spec = params[key];
    if (!spec) {
      const known = ['probability', ...Object.keys(params)].join(', ');
      throw new TagbooruError('E_USAGE', `${file}: unknown key "augmentation.${op}.${key}". Known: ${known}`);
    }
    const [lo, hi] = spec.bounds;
    const ok = Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= lo && v <= hi) && value[0] <= value[1];
    if (!ok) fail(file, `${op}.${key}`, `[min, max] with ${lo} ≤ min ≤ max ≤ ${hi} (${spec.unit})`, value);
  }
  return raw as Partial<OpSetting>;
}

/**
 * The effective augmentation of a project file: the preset's top-level keys (under the file's own) and the
 * settings with every op merged over the preset's. Errors name the key, the expectation and what arrived.
 */
export function resolveAugmentation(raw: unknown, file: string): { top: Partial<PresetTopLevel>; settings: AugmentationSettings } {
  if (raw === undefined) return { top: {}, settings: DEFAULT_AUGMENTATION };
  if (!isObject(raw)) throw new TagbooruError('E_USAGE', `${file}: "augmentation" must be an object, got ${JSON.stringify(raw)}`);
  const { preset, ...rest } = raw;
  if (preset !== undefined && !(typeof preset === 'string' && preset in AUGMENTATION_PRESETS)) {
    throw new TagbooruError('E_USAGE', `${file}: unknown augmentation preset ${JSON.stringify(preset)}. Known: ${PRESET_NAMES.join(', ')}`);
  }
  const base = preset === undefined ? null : AUGMENTATION_PRESETS[preset as PresetName];
  const ops: Partial<Record<OpName, OpSetting>> = { ...base?.ops };
  const settings: { -readonly [K in keyof AugmentationSettings]: AugmentationSettings[K] } = { ...DEFAULT_AUGMENTATION, ops };
  if (base) settings.preset = preset as PresetName;
  for (const [key, value] of Object.entries(rest)) {
    if ((THRESHOLDS as readonly string[]).includes(key)) {
      if (!inUnit(value)) fail(file, key, 'a number between 0 and 1', value);
      settings[key as (typeof THRESHOLDS)[number]] = value;
    } else if ((OP_NAMES as string[]).includes(key)) {
      const op = key as OpName;
      const merged: Partial<OpSetting> = { ...ops[op], ...validateOp(file, op, value) };
      ops[op] = { ...merged, probability: merged.probability ?? 0 };
    } else {
      throw new TagbooruError('E_USAGE', `${file}: unknown key "augmentation.${key}". Known: preset, ${[...OP_NAMES, ...THRESHOLDS].join(', ')}`);
    }
  }
  return { top: base?.top ?? {}, settings };
}
