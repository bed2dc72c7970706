/**
 * `train-project`: the engine driven by project.json, as DeepDanbooru's train_project does it, plus what
 * its users asked for: a validation split with real metrics each epoch, per-tag thresholds fitted on it,
 * exact resume, and fine-tuning any bundle onto a new tag list.
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagbooruError } from '../errors.ts';
import { writeAtomic } from '../atomic-files.ts';
import { roundScore } from '../infer/rounding.ts';
import { BUNDLE_FORMAT, BUNDLE_VERSION, presetSpec, readBundle, type TagInfo } from '../infer/bundle.ts';
import { applyCategories, readTagsFile } from '../infer/tags-file.ts';
import type { AugmentOptions } from '../image/index.ts';
import { adversarialOptions, describeAdversarial } from './adversarial-config.ts';
import { DEFAULT_AUGMENTATION } from './augmentation-config.ts';
import { resumeTraining, saveRotating } from './checkpoints.ts';
import { loadSplit, recordSamples, type LabelledRecord } from './dataset.ts';
import { DecodedCache, defaultDecodedBudget } from './decoded-cache.ts';
import { LabelRules } from './label-rules.ts';
import { runTrainingLoop, sampleRng, type LoopPosition } from './loop.ts';
import { computeMetrics, fitThresholds, type Metrics } from './metrics.ts';
import { databasePath, exclusiveGroups, learningRateFor, readProject, teacherPath, type ProjectConfig } from './project.ts';
import { openTeacher, type Teacher } from './teacher.ts';
import { decodeSafetensors } from '../formats/safetensors.ts';
import { createTrainer, type Trainer } from './trainer.ts';

export interface TrainProjectOptions {
  readonly dir: string;
  /** A bundle (with weights.safetensors) to start from; a different tag list gets a fresh head. */
  readonly sourceModel?: string;
  /** Start over from step 0, moving existing checkpoints to `checkpoints/archive-<time>-…`. Without it, checkpoints none of which can be loaded are an error. */
  readonly restart?: boolean;
  /** Stop after this many steps in this run (a time box; resume continues). */
  readonly maxSteps?: number;
  readonly threads?: number;
  /** Memory for decoded images kept across epochs (decoded-cache.ts; default: defaultDecodedBudget(); 0: none). */
  readonly decodedCacheBytes?: number;
  readonly log: (line: string) => void;
}

export interface TrainProjectResult {
  readonly bundle: string | null;
  readonly position: LoopPosition;
  readonly metrics: Metrics | null;
}

const range = (r: ProjectConfig['rotation_range']) => (r ? ([r[0], r[1]] as const) : null);

export function augmentation(c: ProjectConfig): AugmentOptions | null {
  const ops = Object.fromEntries(Object.entries(c.augmentation?.ops ?? {}).filter(([, s]) => s.probability > 0));
  const o: AugmentOptions = { rotation: range(c.rotation_range), scale: range(c.scale_range), shift: range(c.shift_range), flip: c.flip_horizontal ?? false, corruption: c.corruption_probability ?? 0, ops };
  return o.rotation || o.scale || o.shift || o.flip || o.corruption > 0 || Object.keys(ops).length > 0 ? o : null;
}

/** What the trained model takes: the deepdanbooru preset at the project's size, as the samples are prepared. */
const studentSpec = (c: ProjectConfig) => presetSpec('deepdanbooru', { width: c.image_width, height: c.image_height });

/** tags.txt with the categories of categories.json, when the project has one. */
async function projectTags(dir: string): Promise<TagInfo[]> {
  const tags = await readTagsFile(path.join(dir, 'tags.txt'));
  const categories = path.join(dir, 'categories.json');
  return existsSync(categories) ? applyCategories(tags, categories) : tags;
}

/** Every validation image's probabilities, labels and known mask (the database's unknown tags are 0: metrics skip them). */
async function predictAll(trainer: Trainer, records: readonly LabelledRecord[], c: ProjectConfig, tags: number, cache?: DecodedCache): Promise<{ probs: Float32Array; labels: Float32Array; known: Float32Array; used: number }> {
  const data = recordSamples(records, { width: c.image_width, height: c.image_height, tags, augment: null, cache });
  const per = c.image_width * c.image_height * 3, chunk = 32;
  const probs: number[] = [], labels: number[] = [], known: number[] = [];
  const allKnown = new Float32Array(tags).fill(1);
  for (let start = 0; start < records.length; start += chunk) {
    const samples = (await Promise.all(records.slice(start, start + chunk).map((_, k) => data.load(start + k, sampleRng(0, 0, 0))))).filter((s) => s !== null);
    if (samples.length === 0) continue;
    const x = new Float32Array(samples.length * per);
    samples.forEach((s, k) => x.set(s.x, k * per));
    const out = await trainer.evaluate(x, samples.length);
    probs.push(...out.probs);
    for (const s of samples) {
      labels.push(...s.labels);
      known.push(...(s.mask ?? allKnown));
    }
  }
  return { probs: Float32Array.from(probs), labels: Float32Array.from(labels), known: Float32Array.from(known), used: labels.length / tags };
}

export async function trainProject(o: TrainProjectOptions): Promise<TrainProjectResult> {
  const project = await readProject(o.dir);
  const c = project.config;
  for (const w of project.warnings) o.log(`warning: ${w}`);
  const tags = await projectTags(o.dir);
  const names = tags.map((t) => t.name);
  const fraction = c.validation_fraction ?? 0.05;
  const settingsFile = path.join(o.dir, 'project.json');
  const split = loadSplit(databasePath(project), names, { minimumTagCount: c.minimum_tag_count, validationFraction: fraction, settingsFile });
  o.log(`${split.train.length} training and ${split.validation.length} validation images, ${tags.length} tags` +
    (split.unknownTags ? `; ${split.unknownTags} tag occurrences not in tags.txt ignored` : '') + (split.unlabelled ? `; ${split.unlabelled} images carry none of the tags` : ''));
  if (split.train.length < c.minibatch_size) throw new TagbooruError('E_USAGE', `${split.train.length} training images are fewer than one minibatch: lower "minibatch_size" in ${settingsFile} (now ${c.minibatch_size})`);

  const preprocess = studentSpec(c);
  if (c.adversarial) o.log(`adversarial training: ${describeAdversarial(c.adversarial, c.minibatch_size)}`);
  const trainer = await createTrainer({
    model: c.model, tags: tags.length, imageSize: [c.image_height, c.image_width], batchSize: c.minibatch_size,
    optimizer: c.optimizer === 'sgd' ? { name: 'sgd', momentum: 0.9, nesterov: true, weightDecay: c.weight_decay } : { name: c.optimizer, weightDecay: c.weight_decay },
    loss: c.loss, distillation: c.distillation, seed: c.seed ?? 0, threads: o.threads, ...(c.adversarial && { adversarial: adversarialOptions(c.adversarial, preprocess) }),
    exclusive: exclusiveGroups(project, names),
  });
  let teacher: Teacher | null = null;
  try {
    teacher = await startTeacher(project.dir, teacherPath(project), c, names, o);
    const root = path.join(o.dir, 'checkpoints');
    const resumed = await resumeTraining(trainer, root, { restart: o.restart, log: o.log });
    let resume: LoopPosition | undefined;
    if (resumed) {
      resume = resumed.extra.position as LoopPosition;
      o.log(`resuming from ${path.relative(o.dir, resumed.checkpoint.dir)} (step ${resumed.checkpoint.step}, epoch ${resume.epoch + 1}, image ${resume.offset} of the epoch)`);
    } else if (o.sourceModel) {
      await startFrom(trainer, o.sourceModel, c.model, o.log);
    }

    const seed = c.seed ?? 0;
    let skippedLogged = 0;
    const cache = new DecodedCache(o.decodedCacheBytes ?? defaultDecodedBudget());
    const data = recordSamples(split.train, {
      cache,
      width: c.image_width, height: c.image_height, tags: tags.length, augment: augmentation(c),
      labelRules: new LabelRules(names, c.augmentation ?? DEFAULT_AUGMENTATION),
      onError: (r, message) => {
        if (skippedLogged++ < 20) o.log(`skipped ${r.path} (post ${r.id}): ${message}`);
      },
    });
    const stepsPerEpoch = Math.floor(split.train.length / c.minibatch_size);
    const totalSteps = stepsPerEpoch * c.epoch_count;
    const window = { loss: 0, n: 0, tp: 0, fp: 0, fn: 0, since: performance.now() };
    const exportBundle = async (dir: string, thresholds?: Float32Array, metrics?: Metrics) => {
      await trainer.exportBundle(dir, {
        format: BUNDLE_FORMAT, version: BUNDLE_VERSION, name: path.basename(path.resolve(o.dir)), preset: 'deepdanbooru',
        preprocess, tags,
        thresholds: { default: 0.5, ...(thresholds && { tags: Object.fromEntries(names.map((n, i) => [n, roundScore(thresholds[i]!)])) }) },
        provenance: {
          createdBy: 'tagbooru train-project', project: c, steps: (await trainer.counters()).step, trainedAt: new Date().toISOString(),
          validation: { method: 'fibonacci hash of the post id', fraction, images: split.validation.length },
          ...(metrics && { metrics: { microF1: metrics.microF1, macroF1: metrics.macroF1, mAP: metrics.mAP, precision: metrics.microPrecision, recall: metrics.microRecall } }),
        },
      });
      return dir;
    };
    const validate = async () => {
      if (split.validation.length === 0) return null;
      const v = await predictAll(trainer, split.validation, c, tags.length, cache);
      return { ...v, metrics: computeMetrics(v.probs, v.labels, names, 0.5, v.known) };
    };

    const position = await runTrainingLoop({
      trainer, data, epochs: c.epoch_count, batchSize: c.minibatch_size, sampleSize: c.image_width * c.image_height * 3, tags: tags.length, seed,
      learningRate: (epoch) => learningRateFor(c, epoch), resume, maxSteps: o.maxSteps, probabilities: true, teacher: teacher ? (x) => teacher!.targets(x) : undefined,
      mixup: c.distillation?.mixup,
      checkpointEvery: c.checkpoint_frequency_mb,
      checkpoint: async (position) => void (await saveRotating(trainer, root, { position })),
      onStep: (p) => {
        window.loss += p.loss;
        window.n++;
        for (let i = 0; i < p.labels!.length; i++) {
          if (p.mask![i] === 0) continue; // unknown: neither right nor wrong
          const pred = p.probs![i]! >= 0.5, pos = p.labels![i]! > 0.5;
          if (pred && pos) window.tp++;
          else if (pred) window.fp++;
          else if (pos) window.fn++;
        }
        if (window.n < c.console_logging_frequency_mb && p.step < totalSteps) return;
        const secs = (performance.now() - window.since) / 1000, speed = (window.n * c.minibatch_size) / secs;
        const P = window.tp / Math.max(window.tp + window.fp, 1), R = window.tp / Math.max(window.tp + window.fn, 1);
        const eta = new Date(Date.now() + ((totalSteps - p.step) * c.minibatch_size / speed) * 1000);
        o.log(`Epoch[${p.epoch}] Loss=${(window.loss / window.n).toFixed(6)}, P=${P.toFixed(6)}, R=${R.toFixed(6)}, F1=${(P + R > 0 ? (2 * P * R) / (P + R) : 0).toFixed(6)}, Speed = ${speed.toFixed(1)} samples/s, ${((100 * p.step) / totalSteps).toFixed(2)} %, ETA = ${eta.toISOString().replace('T', ' ').slice(0, 19)}`);
        Object.assign(window, { loss: 0, n: 0, tp: 0, fp: 0, fn: 0, since: performance.now() });
      },
      onEpochEnd: async (epoch) => {
        const v = await validate();
        if (v) o.log(`Epoch[${epoch - 1}] validation (${v.used} images, threshold 0.5): micro F1 ${v.metrics.microF1.toFixed(4)}, macro F1 ${v.metrics.macroF1.toFixed(4)}, P ${v.metrics.microPrecision.toFixed(4)}, R ${v.metrics.microRecall.toFixed(4)}, mAP ${v.metrics.mAP.toFixed(4)}`);
        const every = c.export_model_per_epoch;
        if (epoch < c.epoch_count && (every === 0 || epoch % every === 0)) o.log(`exported ${await exportBundle(path.join(o.dir, `model-${c.model}.e${epoch}`))}`);
      },
    });

    if (position.epoch < c.epoch_count) {
      o.log(`stopped after ${(await trainer.counters()).step} steps (epoch ${position.epoch + 1}, image ${position.offset}); run train-project again to resume`);
      return { bundle: null, position, metrics: null };
    }
    const v = await validate();
    const thresholds = v ? fitThresholds(v.probs, v.labels, tags.length, 0.5, v.known) : undefined;
    const fitted = v && thresholds ? computeMetrics(v.probs, v.labels, names, thresholds, v.known) : null;
    const bundle = await exportBundle(path.join(o.dir, `model-${c.model}`), thresholds, fitted ?? undefined);
    if (fitted) await writeAtomic(path.join(bundle, 'metrics.json'), `${JSON.stringify(fitted, null, 1)}\n`);
    o.log(`exported ${bundle}${fitted ? ` (validation with fitted thresholds: macro F1 ${fitted.macroF1.toFixed(4)}, micro F1 ${fitted.microF1.toFixed(4)}, mAP ${fitted.mAP.toFixed(4)})` : ''}`);
    return { bundle, position, metrics: fitted };
  } finally {
    await teacher?.close();
    await trainer.close();
  }
}

/** The project's teacher in its own inference worker, or null without one. */
async function startTeacher(dir: string, bundle: string | null, c: ProjectConfig, names: readonly string[], o: TrainProjectOptions): Promise<Teacher | null> {
  if (!bundle) return null;
  const t = await openTeacher(bundle, { tags: names, spec: studentSpec(c) }, o.threads).catch((e: unknown) => {
    if (e instanceof TagbooruError && e.code === 'E_BUNDLE') throw new TagbooruError('E_USAGE', `${path.join(dir, 'project.json')}: "teacher": ${e.message}`, { cause: e });
    throw e;
  });
  const { alpha, temperature, mixup } = c.distillation!;
  o.log(`distilling from ${t.name} (${path.relative(dir, bundle) || bundle}): alpha ${alpha}, temperature ${temperature}${mixup ? `, mixup ${mixup}` : ''}; it knows ${t.known} of the ${names.length} tags` +
    `; ${t.direct ? 'it takes the training batch as it is' : 'each training image is re-preprocessed for it'}`);
  return t;
}

/** Fine-tune: take every variable whose name and shape match; the rest (a new head) stays freshly initialised. */
async function startFrom(trainer: Trainer, source: string, arch: string, log: (l: string) => void): Promise<void> {
  const bundle = await readBundle(source);
  if (!bundle.manifest.weights) throw new TagbooruError('E_USAGE', `${source} has no training weights (weights.safetensors): it can tag but not be fine-tuned; export it from train-project or import it from a Keras file`);
  if (bundle.manifest.architecture && bundle.manifest.architecture !== arch) throw new TagbooruError('E_USAGE', `--source-model is ${bundle.manifest.architecture} but project.json says "model": "${arch}"`);
  const { tensors } = decodeSafetensors(await fs.readFile(path.join(bundle.dir, bundle.manifest.weights)), source);
  const taken = await trainer.setWeights(new Map([...tensors].map(([k, t]) => [k, t.data])), { strict: false });
  const unused = tensors.size - taken.length;
  log(`starting from ${source}: ${taken.length} tensors taken${unused ? `; ${unused} did not fit and their layers start fresh (a new tag list gets a new head)` : ''}`);
}

