/**
 * What one PGD step costs next to one forward pass of the same batch, on one bundle (target ≤ 3×), interleaved so
 * load drifts hit both:
 *   forward:  model.onnx on the batch (ONNX Runtime alone, the preprocessed tensor ready)
 *   pgd step: what src/robust/pgd.ts adds per iteration: the attack graph (forward, margin loss, backward to the
 *             image, the pixel-space mapping both ways, the signed step and the projection onto the ε-ball ∩ [0, 1]),
 *             as `attack` runs an undefended L∞ PGD
 *
 *   MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 \
 *     node --import tsx bench/attack-step.ts [--model models/default] [--batch 8] [--rounds 10] [--threads 1]
 */
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { readBundle } from '../src/infer/bundle.ts';
import { ModelSession } from '../src/infer/session.ts';
import { Rng } from '../src/models/random.ts';
import { goalTerms, tagThresholds } from '../src/robust/goals.ts';
import { pgd } from '../src/robust/pgd.ts';
import { pixelsToInput } from '../src/robust/pixel-space.ts';
import { openVictim } from '../src/robust/victim.ts';

const { values: v } = parseArgs({ options: { model: { type: 'string', default: 'models/default' }, batch: { type: 'string', default: '8' }, rounds: { type: 'string', default: '10' }, threads: { type: 'string', default: '1' } } });
const batch = Number(v.batch), rounds = Number(v.rounds), threads = Number(v.threads);
const bundle = await readBundle(v.model);
const m = bundle.manifest, spec = m.preprocess;
const rng = new Rng(1);
const x = Float32Array.from({ length: batch * spec.width * spec.height * 3 }, () => rng.next());
const input = pixelsToInput(x, batch, spec, spec.layout);
const dims = spec.layout === 'NCHW' ? [batch, 3, spec.height, spec.width] : [batch, spec.height, spec.width, 3];
const plain = await ModelSession.create(bundle.modelPath, { threads, spinning: false });
const victim = await openVictim(bundle, { threads, gradient: true });
const thresholds = tagThresholds(m);
// untargeted from an all-unselected start: every tag's hinge active, the backward does its full work
const terms = Array.from({ length: batch }, () => goalTerms({ kind: 'untargeted' }, new Uint8Array(m.tags.length), thresholds));

// wall time, and the process's CPU time: on a shared machine the second is what the work cost (one intra-op
// thread, no spinning), the first adds the waits for a core
const times: Record<string, number[]> = { forward: [], 'pgd step': [] };
const cpu: Record<string, number[]> = { forward: [], 'pgd step': [] };
// a step is what pgd() adds per iteration (one run of the attack graph with the signed step and the projection in
// it, as the attack command runs an undefended L∞ PGD): pgd at `span` steps less pgd at 0 steps (the start's run
// alone), over `span`, timed back to back in each round
const span = 4;
const attack = (steps: number) => pgd((z) => victim.gradient(z, batch, terms), x, batch, {
  norm: 'linf', eps: 4 / 255, steps, schedule: 'pgd', randomStart: false, rng: () => rng.next(),
  linfStep: (z, box, eta) => victim.linfStep!(z, batch, terms, box, eta),
});
// a full collection before each measure and a pause for V8's helper threads to finish sweeping, off the clocks:
// otherwise they free one measure's buffers during the next, whose CPU time then counts them (a forward pass after
// a PGD step measured 49 ms of CPU in 41 of wall time on one thread)
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
const spent = async (f: () => Promise<unknown>): Promise<[number, number]> => {
  collect();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const [t, c] = [performance.now(), process.cpuUsage()];
  await f();
  const used = process.cpuUsage(c);
  return [performance.now() - t, (used.user + used.system) / 1000];
};
for (let r = -2; r < rounds; r++) { // two warm-up rounds, not counted
  const measures: [string, () => Promise<[number, number]>][] = [
    ['forward', () => spent(() => plain.run({ [m.input.name]: { data: input, dims } }, [m.output.name]))],
    ['pgd step', async () => {
      const [[w0, c0], [w1, c1]] = [await spent(() => attack(0)), await spent(() => attack(span))];
      return [(w1 - w0) / span, (c1 - c0) / span];
    }],
  ];
  for (const [name, f] of r % 2 === 0 ? measures : measures.reverse()) {
    const [wall, used] = await f();
    times[name]!.push(wall);
    cpu[name]!.push(used);
  }
  if (r < 0) for (const k of Object.keys(times)) [times[k], cpu[k]] = [[], []];
}
await Promise.all([plain.release(), victim.close()]);
const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1]!;
const [f, s] = [median(times.forward!), median(times['pgd step']!)];
const [fc, sc] = [median(cpu.forward!), median(cpu['pgd step']!)];
console.log(`${m.name}: ${m.tags.length} tags, ${spec.width}×${spec.height}, batch ${batch}, ${threads} thread(s), ${rounds} rounds (median ms: wall, cpu)`);
console.log(`forward   ${f.toFixed(1)} ms  ${fc.toFixed(1)} ms cpu`);
console.log(`pgd step  ${s.toFixed(1)} ms  ${sc.toFixed(1)} ms cpu`);
console.log(`ratio     ${(s / f).toFixed(2)}×  ${(sc / fc).toFixed(2)}× cpu`);
