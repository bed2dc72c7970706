/**
 * One training step graph built by another revision against the working tree's, both run by ONNX Runtime in
 * this one process, alternating run by run, so a change to the step graph is timed free of PyTorch's swings and
 * of load drifts between processes (bench/train.sh times whole runs against PyTorch instead).
 *
 *   bash -c 'source bench/_env.sh; node --import tsx bench/step-ab.ts --base 0dac640 --case a --rounds 40'
 *
 * The other revision is checked out once into a git worktree under the system's temp folder (sharing this
 * checkout's node_modules). Both graphs get the same weights, image batch and labels; the report gives the
 * median step of each, their ratio, and how far apart their losses are (they compute the same function, in
 * a different order of float operations).
 *
 * With --adversarial the graphs are the working tree's clean step and its adversarial step for each --ratio
 * (the attack inside the graph, src/autodiff/adversarial.ts), so the report gives the cost of adversarial
 * training as a multiple of the clean step:
 *
 *   MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 node --import tsx bench/step-ab.ts --case c --adversarial fgsm-rs --rounds 10 --threads 1
 *   … --adversarial pgd:3 --eps 8/255 --ratio 1,0.5
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { attackedCount, defaultStepSize, type AdversarialOptions } from '../src/autodiff/adversarial.ts';
import { FEED, FETCH, buildTrainingStep, type StepGraph } from '../src/autodiff/step-graph.ts';
import { parseFraction } from '../src/option-values.ts';
import { initWeights } from '../src/models/init.ts';
import { buildModel } from '../src/models/registry.ts';
import { nchwcBlockSize } from '../src/train/nchwc-probe.ts';

// c: the bundled default model's training step (training/default-model/project.json)
const CASES = { a: { model: 'resnet_custom_narrow', size: 128, batch: 32 }, b: { model: 'resnet_custom_v4_narrow', size: 224, batch: 16 }, c: { model: 'resnet_custom_narrow', size: 224, batch: 32 } } as const;
const { values: v } = parseArgs({ options: {
  base: { type: 'string', default: 'HEAD' }, case: { type: 'string', default: 'a' }, rounds: { type: 'string', default: '30' }, tags: { type: 'string', default: '1000' }, threads: { type: 'string', default: '2' },
  adversarial: { type: 'string' }, eps: { type: 'string', default: '4/255' }, ratio: { type: 'string', default: '1' },
} });
const bench = CASES[v.case as keyof typeof CASES];
if (!bench) throw new Error(`--case: a or b, got ${v.case}`);
const rounds = Number(v.rounds), tags = Number(v.tags);
if (!(rounds >= 4)) throw new Error(`--rounds: 4 or more, got ${v.rounds}`);

/** `fgsm-rs` or `pgd:<steps>` at --eps on `ratio` of the batch, α as adversarial-config.ts defaults it. */
function adversarialOptions(method: string, ratio: string): AdversarialOptions {
  const [name, k] = method.split(':');
  if (name !== 'fgsm-rs' && name !== 'pgd') throw new Error(`--adversarial: fgsm-rs or pgd:<steps>, got ${method}`);
  const eps = parseFraction('--eps', v.eps, 0, 0.25, true), steps = name === 'pgd' ? Number(k ?? 7) : 1;
  return { method: name, eps, steps, stepSize: defaultStepSize(name, eps, steps), ratio: parseFraction('--ratio', ratio, 0, 1) };
}

const spec = buildModel(bench.model, { tags, imageSize: [bench.size, bench.size] });
const options = { batch: bench.batch, loss: 'binary_crossentropy', optimizer: { name: 'sgd', momentum: 0.9, nesterov: true }, nchwcBlock: await nchwcBlockSize() } as const;
let sha = '';
const graphs: [string, StepGraph][] = [];
if (v.adversarial) {
  graphs.push(['clean', buildTrainingStep(spec, options)]);
  for (const ratio of v.ratio.split(',')) {
    const adversarial = adversarialOptions(v.adversarial, ratio);
    graphs.push([`${v.adversarial} (ε ${v.eps}, ${attackedCount(bench.batch, adversarial.ratio)} of ${bench.batch} attacked)`, buildTrainingStep(spec, { ...options, adversarial })]);
  }
} else {
  const root = path.resolve(import.meta.dirname, '..');
  sha = execFileSync('git', ['rev-parse', '--short', v.base], { cwd: root, encoding: 'utf8' }).trim();
  const tree = path.join(os.tmpdir(), `tagbooru-ab-${sha}`);
  if (!fs.existsSync(tree)) {
    execFileSync('git', ['worktree', 'add', '--detach', tree, sha], { cwd: root, stdio: 'ignore' });
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(tree, 'node_modules'));
  }
  const baseModule = (await import(path.join(tree, 'src/autodiff/step-graph.ts'))) as { buildTrainingStep: typeof buildTrainingStep };
  graphs.push([sha, baseModule.buildTrainingStep(spec, options)], ['working tree', buildTrainingStep(spec, options)]);
}

const weights = initWeights(spec, 0);
const { variables, slots } = graphs[1]![1];
const feeds: Record<string, ort.Tensor> = {};
for (const w of variables) {
  feeds[FEED.weight(w.key)] = new ort.Tensor('float32', weights.get(w.key)!, w.shape);
  if (w.trainable) for (const s of slots) feeds[FEED.slot(w.key, s)] = new ort.Tensor('float32', new Float32Array(weights.get(w.key)!.length), w.shape);
}
let seed = 1;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const pixels = bench.batch * bench.size * bench.size * 3;
feeds[FEED.x] = new ort.Tensor('float32', Float32Array.from({ length: pixels }, random), [bench.batch, bench.size, bench.size, 3]);
feeds[FEED.labels] = new ort.Tensor('float32', Float32Array.from({ length: bench.batch * tags }, () => (random() < 0.05 ? 1 : 0)), [bench.batch, tags]);
feeds[FEED.mask] = new ort.Tensor('float32', new Float32Array(bench.batch * tags).fill(1), [bench.batch, tags]);
feeds[FEED.lr] = new ort.Tensor('float32', Float32Array.of(1e-3), []);
feeds[FEED.step] = new ort.Tensor('float32', Float32Array.of(1), []);

const sessionOptions: ort.InferenceSession.SessionOptions = { intraOpNumThreads: Number(v.threads), interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', enableMemPattern: false };
const noiseFeed = (g: StepGraph): Record<string, ort.Tensor> => (g.noise ? { [FEED.noise]: new ort.Tensor('float32', Float32Array.from({ length: g.noise.reduce((p, d) => p * d, 1) }, () => 2 * random() - 1), g.noise) } : {});
const sessions = await Promise.all(graphs.map(async ([name, g]) => ({ name, nodes: g.nodes, feeds: { ...feeds, ...noiseFeed(g) }, session: await ort.InferenceSession.create(g.model, sessionOptions), times: [] as number[], loss: NaN })));
for (let r = 0; r < rounds; r++) {
  for (const s of r % 2 ? [...sessions].reverse() : sessions) {
    const t = performance.now();
    const out = await s.session.run(s.feeds);
    if (r >= 2) s.times.push(performance.now() - t); // two warm-up runs each
    s.loss = (out[FETCH.loss]!.data as Float32Array)[0]!;
  }
}
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[xs.length >> 1]!;
for (const s of sessions) console.log(`${s.name.padEnd(14)} ${median(s.times).toFixed(1)} ms per step (${s.nodes} nodes), loss ${s.loss}`);
const ratio = median(sessions[1]!.times) / median(sessions[0]!.times);
if (v.adversarial) for (const s of sessions.slice(1)) console.log(`${v.case}: ${bench.model} ${bench.size}² batch ${bench.batch}: ${s.name} costs ${(median(s.times) / median(sessions[0]!.times)).toFixed(2)}× a clean step`);
else console.log(`${v.case}: ${bench.model} ${bench.size}² batch ${bench.batch}: working tree ${(1 / ratio).toFixed(3)}× the speed of ${sha}`);
