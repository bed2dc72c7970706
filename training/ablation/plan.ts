/**
 * What the augmentation ablation generates, trains and scores: the settings (flags, with defaults sized for
 * the full run and a --quick mode), the test sets and the arms, and each arm's project.json.
 *
 * One training set for every arm, drawn with the generator's `default` preset (with masks): every shifted
 * preset changes exactly one habit of `default`, so none of the six shifts is ever seen in training and
 * augmentation is the only thing that varies between arms. (`wide` would already draw monochrome, tiny faces,
 * crops and corruptions: the shifted sets would no longer be held out.) The masks let crop, warp and cutout
 * make a part's tag unknown only when that part is cut out of the frame.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { choiceOption, listOption, numberOption } from '../../src/cli/command.ts';
import { TagbooruError } from '../../src/errors.ts';
import { PRESET_NAMES, type PresetName } from '../../src/train/augmentation-config.ts';

export interface TestSet {
  /** Folder name under data/ and column of the table. */
  readonly name: string;
  /** The generator preset that draws it. */
  readonly preset: string;
  readonly seed: number;
}

/** Training set: seed 1, ids from 1. Held-out sets: seeds of their own, ids from 1,000,001 and 2,000,001. */
export const TRAIN_SEED = 1;
export const TEST_START_ID = { plain: 1_000_001, shifted: 2_000_001 } as const;

export const TEST_SETS: readonly TestSet[] = [
  { name: 'plain', preset: 'default', seed: 2 },
  { name: 'shifted-style', preset: 'shifted-style', seed: 101 },
  { name: 'shifted-monochrome', preset: 'shifted-monochrome', seed: 102 },
  { name: 'shifted-one-face', preset: 'shifted-one-face', seed: 103 },
  { name: 'shifted-tiny', preset: 'shifted-tiny', seed: 104 },
  { name: 'shifted-jpeg', preset: 'shifted-jpeg', seed: 105 },
  { name: 'shifted-downscale', preset: 'shifted-downscale', seed: 106 },
];

/** The arms, cumulative, in the order of AUGMENTATION_PRESETS. */
export const ARMS: readonly PresetName[] = PRESET_NAMES;

export const MODELS = ['resnet_custom_mini', 'resnet_custom_narrow', 'resnet_custom_v2', 'resnet_custom_v3', 'resnet_custom_v4'] as const;

export interface AblationSettings {
  /** Everything generated and trained goes under here (data/, arms/, results.json). */
  readonly out: string;
  readonly size: number;
  readonly trainCount: number;
  readonly testCount: number;
  readonly epochs: number;
  readonly batch: number;
  readonly model: (typeof MODELS)[number];
  readonly threads: number;
  readonly workers: number;
  /** project.json's seed: weight initialisation, sample order and augmentation draws (the data sets keep theirs). */
  readonly seed: number;
  readonly arms: readonly PresetName[];
  readonly sets: readonly TestSet[];
}

/** The full run: the default model's architecture and data size at 160 px, 12 epochs per arm. */
export const FULL: Omit<AblationSettings, 'out' | 'arms' | 'sets'> = { size: 160, trainCount: 10_000, testCount: 1_000, epochs: 12, batch: 32, model: 'resnet_custom_narrow', threads: 0, workers: 2, seed: 1 };
/** --quick: proves the pipeline end to end in seconds; its figures mean nothing. */
export const QUICK: Omit<AblationSettings, 'out' | 'arms' | 'sets'> = { size: 32, trainCount: 24, testCount: 8, epochs: 1, batch: 8, model: 'resnet_custom_mini', threads: 1, workers: 0, seed: 1 };

export const USAGE = `Usage: node --import tsx training/ablation/run.ts [--quick] [--out <dir>] [--size <px>] [--train-count <n>]
  [--test-count <n>] [--epochs <n>] [--batch <n>] [--model <arch>] [--threads <n>] [--workers <n>] [--seed <n>]
  [--arms none,deepdanbooru,…] [--sets plain,shifted-jpeg,…]`;

/** The flags of every measurement on these data sets (this ablation, training/ensembles): data, model, schedule, machine. */
export const RUN_FLAGS = {
  quick: { type: 'boolean' }, out: { type: 'string' }, size: { type: 'string' }, 'train-count': { type: 'string' },
  'test-count': { type: 'string' }, epochs: { type: 'string' }, batch: { type: 'string' }, model: { type: 'string' },
  threads: { type: 'string' }, workers: { type: 'string' }, sets: { type: 'string', multiple: true },
} as const;

export type RunSettings = Omit<AblationSettings, 'arms' | 'seed'>;
type FlagValues = Readonly<Record<string, string | boolean | string[] | undefined>>;

/** RUN_FLAGS over `base` (the full run's defaults or --quick's); every bad value names its flag and range. */
export function runSettings(v: FlagValues, base: Omit<RunSettings, 'out' | 'sets'>, here: string): RunSettings {
  const flag = (name: string) => v[name] as string | undefined;
  const setNames = TEST_SETS.map((s) => s.name);
  const sets = (listOption(v.sets as string[] | undefined) ?? setNames).map((s) => TEST_SETS[setNames.indexOf(choiceOption('sets', s, setNames)!)]!);
  if (sets.length === 0) throw new TagbooruError('E_USAGE', 'Expected at least one test set for --sets');
  return {
    out: path.resolve(flag('out') ?? path.join(here, v.quick ? 'data/quick' : 'data/full')),
    size: numberOption('size', flag('size'), 16, 1024, true) ?? base.size,
    trainCount: numberOption('train-count', flag('train-count'), 8, TEST_START_ID.plain - 1, true) ?? base.trainCount,
    testCount: numberOption('test-count', flag('test-count'), 1, 10_000_000, true) ?? base.testCount,
    epochs: numberOption('epochs', flag('epochs'), 1, 10_000, true) ?? base.epochs,
    batch: numberOption('batch', flag('batch'), 1, 4096, true) ?? base.batch,
    model: choiceOption('model', flag('model'), MODELS) ?? base.model,
    threads: numberOption('threads', flag('threads'), 0, 1024, true) ?? base.threads,
    workers: numberOption('workers', flag('workers'), 0, 64, true) ?? base.workers,
    sets,
  };
}

export function parseSettings(argv: readonly string[], here: string): AblationSettings {
  const { values: v } = parseArgs({ args: [...argv], options: { ...RUN_FLAGS, seed: { type: 'string' }, arms: { type: 'string', multiple: true } }, strict: true });
  const base = v.quick ? QUICK : FULL;
  const arms = (listOption(v.arms) ?? ARMS).map((a) => choiceOption('arms', a, ARMS)!);
  if (arms.length === 0) throw new TagbooruError('E_USAGE', 'Expected at least one arm for --arms');
  return { ...runSettings(v, base, here), seed: numberOption('seed', v.seed, 0, 2 ** 31 - 1, true) ?? base.seed, arms };
}

/**
 * One arm's project.json: the same model, data, schedule and seed for every arm; only "augmentation"
 * differs. The learning rate drops to 0.3× for the last third of the epochs.
 */
export function armProject(s: Pick<AblationSettings, 'size' | 'model' | 'batch' | 'epochs' | 'seed'>, arm: PresetName, database: string): Record<string, unknown> {
  const drop = Math.max(1, Math.round((s.epochs * 2) / 3));
  return {
    image_width: s.size,
    image_height: s.size,
    database_path: database,
    minimum_tag_count: 0,
    model: s.model,
    minibatch_size: s.batch,
    epoch_count: s.epochs,
    export_model_per_epoch: s.epochs,
    checkpoint_frequency_mb: 100,
    console_logging_frequency_mb: 50,
    loss: 'binary_crossentropy',
    optimizer: 'adam',
    learning_rate: 0.001,
    learning_rates: s.epochs > 1 ? [{ used_epoch: 0, learning_rate: 0.001 }, { used_epoch: drop, learning_rate: 0.0003 }] : [{ used_epoch: 0, learning_rate: 0.001 }],
    mixed_precision: false,
    validation_fraction: 0.05,
    seed: s.seed,
    augmentation: { preset: arm },
  };
}

/** The make-dataset arguments of the training set and of each test set; ids never overlap the training set's. */
export function datasetArgs(s: Pick<AblationSettings, 'size' | 'workers' | 'trainCount' | 'testCount'>, dir: string, set: TestSet | 'train'): string[] {
  const common = ['--size', String(s.size), '--workers', String(s.workers)];
  if (set === 'train') return ['make-dataset', 'synthetic', dir, '--count', String(s.trainCount), '--seed', String(TRAIN_SEED), '--start-id', '1', '--preset', 'default', ...common];
  const start = set.name === 'plain' ? TEST_START_ID.plain : TEST_START_ID.shifted;
  return ['make-dataset', 'synthetic', dir, '--count', String(s.testCount), '--seed', String(set.seed), '--start-id', String(start), '--preset', set.preset, '--no-masks', ...common];
}
