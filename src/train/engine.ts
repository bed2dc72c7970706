/**
 * The training engine: weights, optimizer slots and counters, and the ONNX Runtime sessions that run the
 * step and evaluation graphs. It lives in a worker (see trainer.ts); nothing here touches the main thread.
 */
import { DEFAULT_HIDE_SHARE, type AdversarialOptions } from '../autodiff/adversarial.ts';
import { FEED, FETCH, buildEvalGraph, buildTrainingStep } from '../autodiff/step-graph.ts';
import type { DistillationOptions, LossName, LossOptions } from '../autodiff/losses.ts';
import type { OptimizerConfig } from '../autodiff/optimizers.ts';
import { TagbooruError } from '../errors.ts';
import { ModelSession, type TensorData } from '../infer/session.ts';
import { initWeights } from '../models/init.ts';
import { Rng } from '../models/random.ts';
import { withExclusiveGroups, type ExclusiveGroups } from '../models/exclusive.ts';
import { buildModel } from '../models/registry.ts';
import { inputLayer, type ModelSpec, type Weights } from '../models/spec.ts';
import type { VariableSpec } from '../models/shapes.ts';
import { readCheckpoint, writeCheckpoint } from './checkpoint-file.ts';
import { nchwcBlockSize } from './nchwc-probe.ts';
import type { TensorEntry } from '../formats/safetensors.ts';

export interface EngineConfig {
  /** Architecture name (see ARCHITECTURES) or a ready model spec. */
  readonly model: string | ModelSpec;
  readonly tags: number;
  readonly imageSize: readonly [number, number];
  readonly batchSize: number;
  readonly optimizer: OptimizerConfig;
  readonly loss: LossName;
  readonly lossOptions?: LossOptions;
  /** Train on a teacher's soft targets too: every step then takes SoftTargets. */
  readonly distillation?: DistillationOptions;
  readonly seed?: number;
  readonly threads?: number;
  readonly unfoldBudget?: number;
  /** Adversarial training (autodiff/adversarial.ts); its random starts are a function of (seed, step), so a resumed run draws the same ones. */
  readonly adversarial?: AdversarialOptions;
  /** Groups of mutually exclusive tags (tag indices), trained and read as one softmax each (models/exclusive.ts). */
  readonly exclusive?: ExclusiveGroups;
}

/** A teacher's view of a batch, [batch × tags] each, in the student's tag order (src/train/teacher.ts). */
export interface SoftTargets {
  readonly logits: Float32Array;
  /** 1 where the teacher knows the student's tag, 0 where it does not. */
  readonly mask: Float32Array;
}

export interface StepResult {
  readonly loss: number;
  readonly probs?: Float32Array;
}

export interface Counters {
  /** Optimizer steps taken (Adam's t). */
  step: number;
}

const SLOT_SEP = '#';

export class Engine {
  private weights: Weights;
  private slotValues = new Map<string, Float32Array>();
  readonly counters: Counters = { step: 0 };
  private evalSession: ModelSession | null = null;

  private constructor(
    readonly config: EngineConfig,
    readonly spec: ModelSpec,
    private readonly session: ModelSession,
    private readonly vars: readonly VariableSpec[],
    private readonly slots: readonly string[],
    private readonly noiseShape: readonly number[] | null,
    private readonly attackMaskShape: readonly number[] | null,
    /** Per sample: [tags] for a tagger, [C, H, W] for a model whose output is an image (the de-noiser). */
    private readonly labelShape: readonly number[],
  ) {
    this.weights = initWeights(spec, config.seed ?? 0);
    this.resetSlots();
  }

  static async create(config: EngineConfig): Promise<Engine> {
    const built = typeof config.model === 'string' ? buildModel(config.model, { tags: config.tags, imageSize: config.imageSize }) : config.model;
    const spec = config.exclusive ? withExclusiveGroups(built, config.exclusive) : built;
    const nchwcBlock = await nchwcBlockSize();
    const step = buildTrainingStep(spec, { batch: config.batchSize, loss: config.loss, lossOptions: config.lossOptions, distillation: config.distillation, optimizer: config.optimizer, unfoldBudget: config.unfoldBudget, nchwcBlock, adversarial: config.adversarial });
    const session = await ModelSession.create(step.model, { threads: config.threads, memoryPattern: false });
    return new Engine(config, spec, session, step.variables, step.slots, step.noise, step.attackMask, step.labelShape);
  }

  private resetSlots(): void {
    this.slotValues = new Map();
    for (const v of this.vars) if (v.trainable) for (const s of this.slots) this.slotValues.set(`${v.key}${SLOT_SEP}${s}`, new Float32Array(v.shape.reduce((p, d) => p * d, 1)));
  }

  get variables(): readonly VariableSpec[] {
    return this.vars;
  }

  get inputShape(): readonly number[] {
    return inputLayer(this.spec).shape;
  }

  getWeights(): Weights {
    return this.weights;
  }

  /** Replace weights (fine-tuning from a bundle); missing keys keep their fresh initialisation. */
  setWeights(weights: ReadonlyMap<string, Float32Array>, { strict = true } = {}): string[] {
    const kept: string[] = [];
    for (const v of this.vars) {
      const w = weights.get(v.key);
      const n = v.shape.reduce((p, d) => p * d, 1);
      if (!w) {
        if (strict) throw new TagbooruError('E_MODEL', `weights lack ${v.key}`);
        continue;
      }
      if (w.length !== n) {
        if (strict) throw new TagbooruError('E_MODEL', `${v.key} has ${w.length} values; the model needs [${v.shape.join(',')}]`);
        continue;
      }
      this.weights.set(v.key, Float32Array.from(w));
      kept.push(v.key);
    }
    return kept;
  }

  private weightFeeds(): Record<string, TensorData> {
    const feeds: Record<string, TensorData> = {};
    for (const v of this.vars) feeds[FEED.weight(v.key)] = { data: this.weights.get(v.key)!, dims: v.shape };
    return feeds;
  }

  private batchDims(n: number): number[] {
    return [n, ...this.inputShape];
  }

  /** `mask`: 1 where a label is known, 0 where it is unknown (losses.ts); omitted, every label is known. `teacher`: with distillation, required. */
  async step(x: Float32Array, labels: Float32Array, lr: number, wantProbs = false, mask?: Float32Array, teacher?: SoftTargets): Promise<StepResult> {
    const { batchSize } = this.config;
    const dims = [batchSize, ...this.labelShape], size = dims.join('×');
    if (labels.length !== dims.reduce((p, d) => p * d, 1)) throw new TagbooruError('E_USAGE', `a training batch needs ${size} labels, got ${labels.length}`);
    if (mask && mask.length !== labels.length) throw new TagbooruError('E_USAGE', `a training batch needs a ${size} loss mask, got ${mask.length} values`);
    if (this.config.distillation && !(teacher && teacher.logits.length === labels.length && teacher.mask.length === labels.length)) {
      throw new TagbooruError('E_USAGE', `a distillation step needs the teacher's ${size} logits and mask`);
    }
    const feeds = this.weightFeeds();
    feeds[FEED.x] = { data: x, dims: this.batchDims(batchSize) };
    feeds[FEED.labels] = { data: labels, dims };
    const known = mask ?? new Float32Array(labels.length).fill(1);
    feeds[FEED.mask] = { data: known, dims };
    if (this.config.distillation) {
      feeds[FEED.teacher] = { data: teacher!.logits, dims };
      feeds[FEED.teacherMask] = { data: teacher!.mask, dims };
    }
    feeds[FEED.lr] = { data: Float32Array.of(lr), dims: [] };
    feeds[FEED.step] = { data: Float32Array.of(this.counters.step + 1), dims: [] };
    if (this.noiseShape) feeds[FEED.noise] = { data: attackNoise(this.noiseShape, this.config.seed ?? 0, this.counters.step + 1), dims: this.noiseShape };
    if (this.attackMaskShape) feeds[FEED.attackMask] = { data: oneTagAttackMask(labels, known, this.attackMaskShape, this.config.seed ?? 0, this.counters.step + 1, this.config.adversarial?.hideShare), dims: this.attackMaskShape };
    for (const [k, v] of this.slotValues) {
      const [key, slot] = k.split(SLOT_SEP) as [string, string];
      feeds[FEED.slot(key, slot)] = { data: v, dims: this.vars.find((x) => x.key === key)!.shape };
    }
    const out = await this.session.run(feeds);
    // the outputs become the next step's inputs as they are: no copy
    for (const v of this.vars) {
      const next = out[FETCH.newWeight(v.key)];
      if (next) this.weights.set(v.key, next.data);
    }
    for (const k of this.slotValues.keys()) {
      const [key, slot] = k.split(SLOT_SEP) as [string, string];
      this.slotValues.set(k, out[FETCH.newSlot(key, slot)]!.data);
    }
    this.counters.step++;
    const loss = out[FETCH.loss]!.data[0]!;
    if (!Number.isFinite(loss)) throw new TagbooruError('E_MODEL', `the loss became ${loss} at step ${this.counters.step}: lower the learning rate`);
    return wantProbs ? { loss, probs: out[FETCH.probs]!.data } : { loss };
  }

  /** Probabilities (and the loss when labels are given) with the moving BN statistics, any batch size. */
  async evaluate(x: Float32Array, count: number, labels?: Float32Array): Promise<{ probs: Float32Array; loss?: number }> {
    if (!this.evalSession) {
      const model = buildEvalGraph(this.spec, 'N', { name: this.config.loss, options: this.config.lossOptions }, await nchwcBlockSize());
      this.evalSession = await ModelSession.create(model, { threads: this.config.threads, spinning: false });
    }
    const feeds = this.weightFeeds();
    feeds[FEED.x] = { data: x, dims: this.batchDims(count) };
    const dims = [count, ...this.labelShape], size = dims.reduce((p, d) => p * d, 1);
    feeds[FEED.labels] = { data: labels ?? new Float32Array(size), dims };
    feeds[FEED.mask] = { data: new Float32Array(size).fill(1), dims };
    const out = await this.evalSession.run(feeds);
    return { probs: out[FETCH.probs]!.data, loss: labels ? out[FETCH.loss]!.data[0] : undefined };
  }

  /** Weights and optimizer slots as safetensors, counters and `extra` as JSON beside them (see checkpoint-file.ts). */
  async saveCheckpoint(dir: string, extra: Record<string, unknown> = {}, sequence?: number): Promise<void> {
    const tensors = new Map<string, TensorEntry>();
    for (const v of this.vars) tensors.set(v.key, { data: this.weights.get(v.key)!, shape: v.shape });
    for (const [k, data] of this.slotValues) tensors.set(k, { data, shape: this.vars.find((v) => v.key === k.split(SLOT_SEP)[0])!.shape });
    const { config } = this;
    await writeCheckpoint(dir, tensors, {
      model: this.spec.name, tags: config.tags, imageSize: config.imageSize, batchSize: config.batchSize, optimizer: config.optimizer, loss: config.loss,
      counters: this.counters, sequence, extra, savedAt: new Date().toISOString(),
    });
  }

  /** Restores a verified checkpoint; a damaged one is an E_IO error and leaves the engine as it was. */
  async loadCheckpoint(dir: string): Promise<Record<string, unknown>> {
    const { meta, tensors, stateFile } = await readCheckpoint(dir);
    if (meta.model !== this.spec.name || meta.tags !== this.config.tags) throw new TagbooruError('E_USAGE', `checkpoint ${dir} is ${meta.model} with ${meta.tags} tags; this trainer is ${this.spec.name} with ${this.config.tags}`);
    const sizes = new Map(this.vars.map((v) => [v.key, v.shape.reduce((p, d) => p * d, 1)]));
    for (const key of [...sizes.keys(), ...this.slotValues.keys()]) {
      const want = sizes.get(key.split(SLOT_SEP)[0]!)!, t = tensors.get(key);
      if (!t) throw new TagbooruError('E_IO', `${stateFile}: lacks ${key}`);
      if (t.data.length !== want) throw new TagbooruError('E_IO', `${stateFile}: ${key} has ${t.data.length} values; the model needs ${want}`);
    }
    this.setWeights(new Map([...tensors].filter(([k]) => !k.includes(SLOT_SEP)).map(([k, t]) => [k, t.data])));
    for (const k of this.slotValues.keys()) this.slotValues.set(k, tensors.get(k)!.data);
    this.counters.step = meta.counters.step;
    return meta.extra;
  }

  async close(): Promise<void> {
    await this.session.release();
    await this.evalSession?.release();
  }
}

/**
 * The `one-tag` adversarial goal's draw (autodiff/adversarial.ts), a function of (seed, step) like the noise, so a
 * resumed run draws the same: per attacked sample (the batch's first rows) one known label, with odds `hideShare`
 * (default ½) a positive (the attack hides it), else a negative (it adds it); the other kind when the sample has
 * none of one;
 * a row with no known label stays zero (its attack has no loss to climb and keeps the random start).
 */
export function oneTagAttackMask(labels: Float32Array, mask: Float32Array, shape: readonly number[], seed: number, step: number, hideShare = DEFAULT_HIDE_SHARE): Float32Array {
  const [n, tags] = shape as [number, number];
  const rng = Rng.derived(seed, step, 0x2545f491);
  const out = new Float32Array(n * tags);
  for (let i = 0; i < n; i++) {
    const known = (want: number) => [...Array(tags).keys()].filter((t) => mask[i * tags + t]! > 0 && (labels[i * tags + t]! > 0.5 ? 1 : 0) === want);
    const positives = known(1), negatives = known(0);
    const hide = rng.next() < hideShare;
    const pool = (hide && positives.length) || !negatives.length ? positives : negatives;
    if (pool.length) out[i * tags + pool[rng.int(pool.length)]!] = 1;
  }
  return out;
}

/** The attack's random start for optimizer step `step` (1-based): uniform in [−1, 1), a function of the seed and the step alone. */
export function attackNoise(shape: readonly number[], seed: number, step: number): Float32Array {
  const rng = Rng.derived(seed, step, 0x5851f42d);
  const out = new Float32Array(shape.reduce((p, d) => p * d, 1));
  for (let i = 0; i < out.length; i++) out[i] = rng.next() * 2 - 1;
  return out;
}
