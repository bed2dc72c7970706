/** `make-dataset synthetic`'s generator flags → settings overrides (settings.ts), each checked with its range. */
import { invalidOption } from '../../errors.ts';
import { parseNumber } from '../../option-values.ts';
import { CORRUPTIONS, CORRUPTION_RANGES, MAX_CHARACTERS, MAX_FACE_SIZE_SPREAD, RENDERINGS, STYLE_NAMES, type GeneratorSettings, type StyleName } from '../../dataset/synthetic/settings.ts';
import { choiceOption, listOption, numberOption, tagValuesOption } from '../command.ts';

export interface GeneratorFlags {
  styles?: string[];
  characters?: string;
  'face-size'?: string;
  'face-size-spread'?: string;
  crop?: boolean;
  rendering?: string[];
  colours?: string;
  ambiguous?: string;
  corruptions?: string[];
}

/** `a-b` or `a`: a closed range, both ends within [min, max]. */
function rangeOption(name: string, raw: string | undefined, min: number, max: number, integer: boolean): [number, number] | undefined {
  if (raw === undefined) return undefined;
  const m = /^\s*([^-\s]+)\s*(?:-\s*([^-\s]+)\s*)?$/.exec(raw);
  if (!m) throw invalidOption(`--${name}`, `a number or a range like ${min}-${max}`, raw);
  const lo = parseNumber(`--${name}`, m[1]!, min, max, integer), hi = m[2] === undefined ? lo : parseNumber(`--${name}`, m[2], min, max, integer);
  if (hi < lo) throw invalidOption(`--${name}`, 'a range from low to high', raw);
  return [lo, hi];
}

function keysOf<K extends string>(name: string, values: Record<string, number> | undefined, known: readonly K[]): Partial<Record<K, number>> | undefined {
  const bad = Object.keys(values ?? {}).find((k) => !(known as readonly string[]).includes(k));
  if (bad !== undefined) throw invalidOption(`--${name}`, `names from ${known.join(', ')}`, bad);
  return values as Partial<Record<K, number>> | undefined;
}

export function generatorOverrides(v: GeneratorFlags): Partial<GeneratorSettings> {
  const styles = listOption(v.styles);
  for (const s of styles ?? []) if (!(STYLE_NAMES as readonly string[]).includes(s)) throw invalidOption('--styles', `styles from ${STYLE_NAMES.join(', ')}`, s);
  const characters = rangeOption('characters', v.characters, 1, MAX_CHARACTERS, true);
  const faceSize = rangeOption('face-size', v['face-size'], 0.02, 1, false);
  const faceSizeSpread = numberOption('face-size-spread', v['face-size-spread'], 1, MAX_FACE_SIZE_SPREAD);
  const rendering = keysOf('rendering', tagValuesOption('rendering', v.rendering, 0, 1000), RENDERINGS);
  const corruptions = keysOf('corruptions', tagValuesOption('corruptions', v.corruptions, 0, 1), CORRUPTIONS);
  const free = characters !== undefined || faceSize !== undefined || faceSizeSpread !== undefined || v.crop === true;
  const o: Partial<GeneratorSettings> = {
    styles: styles as StyleName[] | undefined,
    ...(free && { layout: 'free' as const }),
    characters,
    faceSize,
    faceSizeSpread,
    crop: v.crop || undefined,
    rendering,
    colours: choiceOption('colours', v.colours, ['palette', 'wide'] as const),
    ambiguous: choiceOption('ambiguous', v.ambiguous, ['avoid', 'unknown'] as const),
    corruptions: corruptions && Object.fromEntries(Object.entries(corruptions).map(([k, p]) => [k, { p, range: CORRUPTION_RANGES[k as keyof typeof CORRUPTION_RANGES] }])),
  };
  // undefined flags leave the preset's values
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined));
}
