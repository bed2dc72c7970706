/**
 * DeepDanbooru's project.json: the same keys and defaults (reference/deepdanbooru.md §2), so an existing
 * project folder works as it is. Unknown keys are warnings, wrong types are errors naming the key.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DistillationOptions } from '../autodiff/losses.ts';
import { TagbooruError, errorMessage } from '../errors.ts';
import { ARCHITECTURES, expectImageSize } from '../models/registry.ts';
import { resolveAdversarial, type AdversarialSettings } from './adversarial-config.ts';
import { resolveAugmentation, type AugmentationSettings } from './augmentation-config.ts';

export interface LearningRateStep {
  readonly used_epoch: number;
  readonly learning_rate: number;
}

export interface ProjectConfig {
  readonly image_width: number;
  readonly image_height: number;
  readonly database_path: string | null;
  readonly minimum_tag_count: number;
  readonly model: string;
  readonly minibatch_size: number;
  readonly epoch_count: number;
  readonly export_model_per_epoch: number;
  readonly checkpoint_frequency_mb: number;
  readonly console_logging_frequency_mb: number;
  readonly loss: 'binary_crossentropy' | 'focal_loss' | 'asymmetric_loss';
  readonly optimizer: 'adam' | 'sgd' | 'rmsprop';
  readonly learning_rate: number;
  readonly learning_rates?: readonly LearningRateStep[];
  readonly rotation_range: readonly [number, number] | null | false;
  readonly scale_range: readonly [number, number] | null | false;
  readonly shift_range: readonly [number, number] | null | false;
  readonly mixed_precision: boolean;
  // tagbooru's additions; DeepDanbooru ignores them
  readonly validation_fraction?: number;
  readonly flip_horizontal?: boolean;
  readonly corruption_probability?: number;
  readonly seed?: number;
  readonly weight_decay?: number;
  /** Presets, tagbooru's augmentation ops and the label rules' thresholds (augmentation-config.ts); resolved on reading. */
  readonly augmentation?: AugmentationSettings;
  /** A bundle (single or ensemble) whose probabilities the student learns from; relative to the project folder. */
  readonly teacher?: string;
  /** How the teacher's soft targets mix with the labels (losses.ts, withDistillation); defaults DEFAULT_DISTILLATION. */
  readonly distillation?: DistillationSettings;
  /** Adversarial training (adversarial-config.ts); resolved on reading. */
  readonly adversarial?: AdversarialSettings;
  /** Groups of tags of which an image carries at most one (a count: solo, 2girls, …), each trained as one softmax (models/exclusive.ts). */
  readonly exclusive_tags?: readonly (readonly string[])[];
}

/** The loss's options, and the share of each batch blended before the teacher labels it (mixup.ts; 0 = none). */
export interface DistillationSettings extends DistillationOptions {
  readonly mixup: number;
}

export const DEFAULT_DISTILLATION: DistillationSettings = { alpha: 0.5, temperature: 2, mixup: 0 };

export const DEFAULT_PROJECT: ProjectConfig = {
  image_width: 299,
  image_height: 299,
  database_path: null,
  minimum_tag_count: 20,
  model: 'resnet_custom_v2',
  minibatch_size: 32,
  epoch_count: 10,
  export_model_per_epoch: 10,
  checkpoint_frequency_mb: 200,
  console_logging_frequency_mb: 10,
  loss: 'binary_crossentropy',
  optimizer: 'adam',
  learning_rate: 0.001,
  rotation_range: [0.0, 360.0],
  scale_range: [0.9, 1.1],
  shift_range: [-0.1, 0.1],
  mixed_precision: false,
};

type Check = (v: unknown) => boolean;
const num: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const posInt: Check = (v) => Number.isInteger(v) && (v as number) > 0;
const nonNegInt: Check = (v) => Number.isInteger(v) && (v as number) >= 0;
const range: Check = (v) => v === null || v === false || (Array.isArray(v) && v.length === 2 && v.every(num) && (v[0] as number) <= (v[1] as number));
const oneOf = (...xs: string[]): Check => (v) => typeof v === 'string' && xs.includes(v);

const SCHEMA: Record<string, [Check, string]> = {
  image_width: [posInt, 'a positive integer'],
  image_height: [posInt, 'a positive integer'],
  database_path: [(v) => v === null || typeof v === 'string', 'a path or null'],
  minimum_tag_count: [nonNegInt, 'a non-negative integer'],
  model: [(v) => typeof v === 'string' && ARCHITECTURES.includes(v), `one of ${ARCHITECTURES.join(', ')}`],
  minibatch_size: [posInt, 'a positive integer'],
  epoch_count: [posInt, 'a positive integer'],
  export_model_per_epoch: [nonNegInt, 'a non-negative integer (0: every epoch)'],
  checkpoint_frequency_mb: [posInt, 'a positive integer (minibatches)'],
  console_logging_frequency_mb: [posInt, 'a positive integer (minibatches)'],
  loss: [oneOf('binary_crossentropy', 'focal_loss', 'asymmetric_loss'), 'one of binary_crossentropy, focal_loss, asymmetric_loss'],
  optimizer: [oneOf('adam', 'sgd', 'rmsprop'), 'one of adam, sgd, rmsprop'],
  learning_rate: [(v) => num(v) && (v as number) > 0, 'a positive number'],
  learning_rates: [(v) => Array.isArray(v) && v.every((s: unknown) => typeof s === 'object' && s !== null && nonNegInt((s as LearningRateStep).used_epoch) && num((s as LearningRateStep).learning_rate)), 'a list of { "used_epoch", "learning_rate" }'],
  rotation_range: [range, '[min, max] degrees, or false'],
  scale_range: [range, '[min, max], or false'],
  shift_range: [range, '[min, max] as a fraction of the size, or false'],
  mixed_precision: [(v) => typeof v === 'boolean', 'true or false'],
  validation_fraction: [(v) => num(v) && (v as number) >= 0 && (v as number) < 1, 'a number in [0, 1)'],
  flip_horizontal: [(v) => typeof v === 'boolean', 'true or false'],
  corruption_probability: [(v) => num(v) && (v as number) >= 0 && (v as number) <= 1, 'a number in [0, 1]'],
  seed: [nonNegInt, 'a non-negative integer'],
  weight_decay: [(v) => num(v) && (v as number) >= 0, 'a non-negative number'],
  augmentation: [(v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'an object ({ "preset": …, "crop": { "probability": …, … }, … })'],
  teacher: [(v) => typeof v === 'string' && v !== '', 'the path of a model bundle (relative to the project folder)'],
  distillation: [(v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'an object ({ "alpha": 0.5, "temperature": 2, "mixup": 0 })'],
  adversarial: [(v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'an object ({ "eps": "4/255", "method": "fgsm-rs" | "pgd", "steps": …, "ratio": …, "step_size": … })'],
  exclusive_tags: [(v) => Array.isArray(v) && v.every((g) => Array.isArray(g) && g.length >= 2 && g.every((t) => typeof t === 'string' && t !== '')), 'a list of groups of two or more tag names ([["solo", "2girls", "3girls"]])'],
};

const DISTILLATION_SCHEMA: Record<keyof DistillationSettings, [Check, string]> = {
  alpha: [(v) => num(v) && (v as number) >= 0 && (v as number) <= 1, 'a number in [0, 1]'],
  temperature: [(v) => num(v) && (v as number) > 0, 'a number > 0'],
  mixup: [(v) => num(v) && (v as number) >= 0 && (v as number) <= 1, 'a number in [0, 1] (the share of each batch blended)'],
};

/** "distillation" over its defaults; a bad value names "distillation.<key>", and it means nothing without "teacher". */
function resolveDistillation(raw: Record<string, unknown>, file: string, warnings: string[]): DistillationSettings | undefined {
  const given = raw.distillation as Record<string, unknown> | undefined;
  if (given && raw.teacher === undefined) throw new TagbooruError('E_USAGE', `${file}: "distillation" needs "teacher": the path of the bundle to distil from`);
  if (raw.teacher === undefined) return undefined;
  for (const [key, value] of Object.entries(given ?? {})) {
    const rule = DISTILLATION_SCHEMA[key as keyof DistillationSettings];
    if (!rule) warnings.push(`${file}: unknown key "distillation.${key}" is ignored`);
    else if (!rule[0](value)) throw new TagbooruError('E_USAGE', `${file}: "distillation.${key}" must be ${rule[1]}, got ${JSON.stringify(value)}`);
  }
  const value = (key: keyof DistillationSettings) => (given?.[key] as number | undefined) ?? DEFAULT_DISTILLATION[key];
  return { alpha: value('alpha'), temperature: value('temperature'), mixup: value('mixup') };
}

export interface LoadedProject {
  readonly dir: string;
  readonly config: ProjectConfig;
  readonly warnings: string[];
}

export function validateProject(raw: unknown, file: string): { config: ProjectConfig; warnings: string[] } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TagbooruError('E_USAGE', `${file}: expected a JSON object`);
  const warnings: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const rule = SCHEMA[key];
    if (!rule) {
      warnings.push(`${file}: unknown key "${key}" is ignored`);
      continue;
    }
    if (!rule[0](value)) throw new TagbooruError('E_USAGE', `${file}: "${key}" must be ${rule[1]}, got ${JSON.stringify(value)}`);
  }
  // a preset's rotation, scale, shift, flip and corruption keys sit under the file's own
  const { top, settings } = resolveAugmentation((raw as { augmentation?: unknown }).augmentation, file);
  const distillation = resolveDistillation(raw as Record<string, unknown>, file, warnings);
  const adversarial = 'adversarial' in raw ? { adversarial: resolveAdversarial(raw.adversarial, file) } : {};
  const config: ProjectConfig = { ...DEFAULT_PROJECT, ...top, ...(raw as Partial<ProjectConfig>), augmentation: settings, ...(distillation && { distillation }), ...adversarial };
  expectImageSize(config.model, [config.image_height, config.image_width], `"image_width" and "image_height" in ${file}`, `${config.image_width}×${config.image_height}`);
  if (config.mixed_precision) warnings.push(`${file}: mixed_precision is not supported on CPU; training runs in float32`);
  return { config, warnings };
}

export async function readProject(dir: string): Promise<LoadedProject> {
  const file = path.join(dir, 'project.json');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new TagbooruError('E_USAGE', `${dir} is not a project: cannot read project.json (${errorMessage(e)}). Create one with \`tagbooru create-project ${dir}\``);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new TagbooruError('E_USAGE', `${file} is not valid JSON: ${errorMessage(e)}`);
  }
  return { dir, ...validateProject(raw, file) };
}

/** For each epoch the last entry with used_epoch ≤ epoch wins, else learning_rate. */
export function learningRateFor(config: ProjectConfig, epoch: number): number {
  let lr = config.learning_rate;
  for (const s of [...(config.learning_rates ?? [])].sort((a, b) => a.used_epoch - b.used_epoch)) if (s.used_epoch <= epoch) lr = s.learning_rate;
  return lr;
}

/** database_path may be relative to the project folder. */
export function databasePath(project: LoadedProject): string {
  const p = project.config.database_path;
  if (!p) throw new TagbooruError('E_USAGE', `${path.join(project.dir, 'project.json')}: set "database_path" to the training database (see \`tagbooru make-training-database\`)`);
  return path.resolve(project.dir, p);
}

/** "exclusive_tags" as indices into `tags` (tags.txt); a tag not in it, or in two groups, names itself. */
export function exclusiveGroups(project: LoadedProject, tags: readonly string[]): number[][] {
  const file = path.join(project.dir, 'project.json');
  const index = new Map(tags.map((t, i) => [t, i]));
  const seen = new Set<string>();
  return (project.config.exclusive_tags ?? []).map((group) => group.map((tag) => {
    const i = index.get(tag);
    if (i === undefined) throw new TagbooruError('E_USAGE', `${file}: "exclusive_tags" names ${tag}, which is not in tags.txt`);
    if (seen.has(tag)) throw new TagbooruError('E_USAGE', `${file}: "exclusive_tags" names ${tag} twice; a tag belongs to one group at most`);
    seen.add(tag);
    return i;
  }));
}

/** The teacher bundle, resolved against the project folder; null without distillation. */
export function teacherPath(project: LoadedProject): string | null {
  const t = project.config.teacher;
  return t ? path.resolve(project.dir, t) : null;
}
