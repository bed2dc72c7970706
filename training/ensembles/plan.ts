/**
 * What the ensembles measurement (issue 23, Measure) generates, trains, composes and scores: the settings
 * (flags over the full run's defaults or --quick's), the members' and the distilled student's project.json.
 *
 * The data sets, their seeds and ids, and the project.json of one training run are the augmentation
 * ablation's (training/ablation/plan.ts): the same training set and the plain and six shifted held-out sets.
 * Members differ only in project.json's seed, which draws their initial weights, their sample order and
 * their augmentation; a student is one more seed of the same project with "teacher" set. Students may train
 * longer than a member (--student-epochs: distillation needs a patient schedule, Beyer et al. 2022), with
 * several alphas and several seeds (--student-seeds: one student says little when members of different seeds
 * differ by a point of mAP). Every student seed and schedule gets its paired baseline, the same seed and
 * schedule without the teacher ("a member trained alone" of the student's size and schedule), so the teacher
 * is all that differs between a student and its baseline. With --extra-ratio k the students also see k times
 * as many unlabelled images (every tag unknown, so only the teacher teaches on them) in as many steps as their
 * baseline: a student's epochs over the k + 1 times larger set are its schedule's divided by k + 1.
 */
import { parseArgs } from 'node:util';
import { choiceOption, listOption, numberOption } from '../../src/cli/command.ts';
import { TagbooruError } from '../../src/errors.ts';
import { PRESET_NAMES, type PresetName } from '../../src/train/augmentation-config.ts';
import { RUN_FLAGS, armProject, runSettings, type RunSettings, type TestSet } from '../ablation/plan.ts';

export interface EnsembleSettings extends RunSettings {
  /** Members trained, with project seeds 1…members. */
  readonly members: number;
  /** Ensemble sizes built from the first members (each ≤ members). */
  readonly ensembles: readonly number[];
  /** Every member's and the student's augmentation preset. */
  readonly augmentation: PresetName;
  /** Also the largest ensemble with `--tta flip`, and a calibrated copy of it (`tagbooru calibrate`). */
  readonly tta: boolean;
  readonly calibrate: boolean;
  /** Every student arm is one of these schedules with one of these alphas. */
  readonly studentEpochs: readonly number[];
  readonly alphas: readonly number[];
  /** Project seeds of the students and their baselines trained alone: none of them a member's (1…members). */
  readonly studentSeeds: readonly number[];
  /** Unlabelled images the students see beside the training set, as a multiple of it (0: none). */
  readonly extraRatio: number;
  readonly temperature: number;
  /** The share of each student batch blended before the teacher labels it (project.json's distillation.mixup). */
  readonly mixup: number;
  /** Images of the plain set each bundle tags for its latency. */
  readonly latencyImages: number;
}

/** The full run: five resnet_custom_mini members at 80 px on 4,000 images (the lead schedules it). */
export const FULL: Omit<EnsembleSettings, 'out' | 'sets' | 'studentEpochs' | 'studentSeeds' | 'extraRatio' | 'mixup'> = {
  size: 80, trainCount: 4000, testCount: 500, epochs: 8, batch: 32, model: 'resnet_custom_mini', threads: 0, workers: 2,
  members: 5, ensembles: [3, 5], augmentation: 'all', tta: true, calibrate: true, alphas: [0.5], temperature: 2, latencyImages: 128,
};
/** --quick: proves the pipeline end to end in seconds; its figures mean nothing. */
export const QUICK: Omit<EnsembleSettings, 'out' | 'sets' | 'studentEpochs' | 'studentSeeds' | 'extraRatio' | 'mixup'> = {
  size: 32, trainCount: 24, testCount: 8, epochs: 1, batch: 8, model: 'resnet_custom_mini', threads: 1, workers: 0,
  members: 3, ensembles: [2, 3], augmentation: 'all', tta: false, calibrate: false, alphas: [0.5], temperature: 2, latencyImages: 8,
};

export const USAGE = `Usage: node --import tsx training/ensembles/run.ts [--quick] [--out <dir>] [--size <px>] [--train-count <n>]
  [--test-count <n>] [--epochs <n>] [--batch <n>] [--model <arch>] [--threads <n>] [--workers <n>] [--members <n>]
  [--ensembles 3,5] [--augmentation <preset>] [--tta | --no-tta] [--calibrate | --no-calibrate]
  [--student-epochs <n>,…] [--alpha <0–1>,…] [--student-seeds <n>,…] [--extra-ratio <k>] [--temperature <T>]
  [--mixup <0–1>] [--latency-images <n>] [--sets plain,shifted-jpeg,…]
A student is trained for every --student-epochs (default: --epochs) with every --alpha (default 0.5) from every
--student-seeds (default: members + 1), and a member alone on every schedule from every one of those seeds.
--extra-ratio k (default 0) adds k times the training set in unlabelled images to the students' data, in the
same number of steps: each --student-epochs must then be a multiple of k + 1. --mixup p (default 0) blends a
share p of each student batch before the teacher labels it (function matching).`;

export function parseSettings(argv: readonly string[], here: string): EnsembleSettings {
  const { values: v } = parseArgs({
    args: [...argv],
    options: {
      ...RUN_FLAGS, members: { type: 'string' }, ensembles: { type: 'string', multiple: true }, augmentation: { type: 'string' }, tta: { type: 'boolean' },
      'no-tta': { type: 'boolean' }, calibrate: { type: 'boolean' }, 'no-calibrate': { type: 'boolean' }, alpha: { type: 'string', multiple: true },
      'student-epochs': { type: 'string', multiple: true }, 'student-seeds': { type: 'string', multiple: true },
      'extra-ratio': { type: 'string' },
      temperature: { type: 'string' }, mixup: { type: 'string' }, 'latency-images': { type: 'string' },
    },
    strict: true,
  });
  const base = v.quick ? QUICK : FULL;
  const members = numberOption('members', v.members, 1, 64, true) ?? base.members;
  const ensembles = (listOption(v.ensembles) ?? base.ensembles.map(String)).map((n) => numberOption('ensembles', n, 2, members, true)!);
  const run = runSettings(v, base, here);
  const studentEpochs = (listOption(v['student-epochs']) ?? [String(run.epochs)]).map((n) => numberOption('student-epochs', n, 1, 10_000, true)!);
  const alphas = (listOption(v.alpha) ?? base.alphas.map(String)).map((a) => numberOption('alpha', a, 0, 1)!);
  // a member's seed would make the student's baseline a copy of that member
  const studentSeeds = (listOption(v['student-seeds']) ?? [String(members + 1)]).map((n) => numberOption('student-seeds', n, members + 1, 2 ** 31 - 1, true)!);
  if (studentEpochs.length === 0 || alphas.length === 0 || studentSeeds.length === 0) throw new TagbooruError('E_USAGE', 'Expected at least one value for --student-epochs, --alpha and --student-seeds');
  const extraRatio = numberOption('extra-ratio', v['extra-ratio'], 0, 20, true) ?? 0;
  const uneven = studentEpochs.find((e) => e % (extraRatio + 1) !== 0);
  if (uneven !== undefined) throw new TagbooruError('E_USAGE', `Expected every --student-epochs to be a multiple of --extra-ratio + 1 (${extraRatio + 1}), so a student takes as many steps as its baseline, but received ${uneven}`);
  return {
    ...run,
    members,
    ensembles: [...new Set(ensembles)].sort((a, b) => a - b),
    augmentation: choiceOption('augmentation', v.augmentation, PRESET_NAMES) ?? base.augmentation,
    tta: v['no-tta'] ? false : (v.tta ?? base.tta),
    calibrate: v['no-calibrate'] ? false : (v.calibrate ?? base.calibrate),
    studentEpochs: [...new Set(studentEpochs)].sort((a, b) => a - b),
    alphas: [...new Set(alphas)].sort((a, b) => a - b),
    studentSeeds: [...new Set(studentSeeds)].sort((a, b) => a - b),
    extraRatio,
    temperature: numberOption('temperature', v.temperature, 0.01, 100) ?? base.temperature,
    mixup: numberOption('mixup', v.mixup, 0, 1) ?? 0,
    latencyImages: numberOption('latency-images', v['latency-images'], 1, 100_000, true) ?? base.latencyImages,
  };
}

/** The ablation's project.json for one training run with this seed and the settings' augmentation (and epochs, unless given). */
function runProject(s: EnsembleSettings, seed: number, database: string, epochs = s.epochs): Record<string, unknown> {
  return armProject({ ...s, epochs, seed }, s.augmentation, database);
}

/** Member k (1-based): project seed k. */
export function memberProject(s: EnsembleSettings, k: number, database: string): Record<string, unknown> {
  return runProject(s, k, database);
}

/** One student: its schedule, the weight of the teacher's term and its seed. */
export interface StudentArm {
  readonly epochs: number;
  readonly alpha: number;
  readonly seed: number;
}

/** Every --student-epochs with every --alpha from every --student-seeds, shortest schedule first. */
export function studentArms(s: EnsembleSettings): StudentArm[] {
  return s.studentEpochs.flatMap((epochs) => s.alphas.flatMap((alpha) => s.studentSeeds.map((seed) => ({ epochs, alpha, seed }))));
}

/** A member trained alone: the baseline of the students of its schedule and seed. */
export interface AloneRun {
  readonly epochs: number;
  readonly seed: number;
}

/** Every student schedule from every student seed, the members' schedule included: each student's paired baseline. */
export function aloneRuns(s: EnsembleSettings): AloneRun[] {
  return s.studentEpochs.flatMap((epochs) => s.studentSeeds.map((seed) => ({ epochs, seed })));
}

/** The first student seed keeps the folder names of the runs that had one seed, so they resume. */
const seedSuffix = (s: EnsembleSettings, seed: number) => (seed === s.members + 1 ? '' : `-s${seed}`);
/**
 * The project folder of a student, and of a member trained alone (under <out>). A student's folder names every
 * setting that makes it another student: a resumed run takes a finished folder as done. NOTE: the default
 * temperature adds nothing, so the folders of runs from before it was named still resume.
 */
export const studentFolder = (s: EnsembleSettings, a: StudentArm) =>
  `student-e${a.epochs}-a${a.alpha}${s.temperature !== FULL.temperature ? `-t${s.temperature}` : ''}${s.extraRatio ? `-x${s.extraRatio}` : ''}${s.mixup ? `-m${s.mixup}` : ''}${seedSuffix(s, a.seed)}`;
export const aloneFolder = (s: EnsembleSettings, r: AloneRun) => `alone-e${r.epochs}${seedSuffix(s, r.seed)}`;

/**
 * A student: a member's project with the student's seed and schedule, distilled from `teacher` (relative to its
 * folder); on `database`, the training set and its unlabelled images with --extra-ratio, in as many steps.
 */
export function studentProject(s: EnsembleSettings, database: string, teacher: string, arm: StudentArm): Record<string, unknown> {
  const epochs = arm.epochs / (s.extraRatio + 1);
  return { ...runProject(s, arm.seed, database, epochs), teacher, distillation: { alpha: arm.alpha, temperature: s.temperature, ...(s.mixup && { mixup: s.mixup }) } };
}

/** The make-dataset arguments of the students' unlabelled images: the training set's preset, another seed, ids of their own. */
export function extraDatasetArgs(s: EnsembleSettings, dir: string): string[] {
  return ['make-dataset', 'synthetic', dir, '--count', String(s.extraRatio * s.trainCount), '--seed', String(EXTRA_SEED), '--start-id', String(EXTRA_START_ID),
    '--preset', 'default', '--no-masks', '--size', String(s.size), '--workers', String(s.workers)];
}
const EXTRA_SEED = 301;
/** Ids clear of every other set: the training set lies below 1,000,001, the test sets start at 1,000,001 and 2,000,001. */
const EXTRA_START_ID = 30_000_001;

/** A member trained alone on a student's schedule and seed: the student's project without the teacher. */
export function aloneProject(s: EnsembleSettings, database: string, r: AloneRun): Record<string, unknown> {
  return runProject(s, r.seed, database, r.epochs);
}

export type { TestSet };
