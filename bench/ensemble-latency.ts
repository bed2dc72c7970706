/**
 * What an ensemble costs against its members: each member alone and the ensemble of them (built in memory by
 * src/compose), each in its own ONNX Runtime session with the same threads, timed on the same batch of random
 * inputs, runs interleaved round by round so that load on the machine falls on all alike.
 * Usage: node --import tsx bench/ensemble-latency.ts <member bundles…> [--batch 8] [--rounds 15] [--threads 1] [--combine logit-mean]
 * Prints the median ms per batch of each, and the ensemble's ratio to the sum of its members (the target: ≤ 1.10).
 * With --tta <views> (one bundle: `--tta tiles=3`, `--tta flip`) the bundle is timed against its test-time
 * augmented graph instead, and the ratio is to the views' count.
 */
import fs from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { buildEnsemble } from '../src/compose/ensemble.ts';
import { parseTta, withTta } from '../src/compose/tta.ts';
import { readBundle, type BundleManifest, type CombineMode } from '../src/infer/bundle.ts';
import { inputFeeds, imageFloats, modelInputs } from '../src/infer/model-io.ts';
import { ModelSession } from '../src/infer/session.ts';
import { Rng } from '../src/models/random.ts';

const { values: v, positionals } = parseArgs({
  allowPositionals: true,
  options: { batch: { type: 'string', default: '8' }, rounds: { type: 'string', default: '15' }, threads: { type: 'string', default: '1' }, combine: { type: 'string', default: 'logit-mean' }, tta: { type: 'string' } },
});
if (positionals.length < (v.tta ? 1 : 2)) throw new Error('usage: node --import tsx bench/ensemble-latency.ts <member bundles…> [--batch 8] [--rounds 15] [--threads 1] [--tta <views>, one bundle]');
const [batch, rounds, threads] = [Number(v.batch), Number(v.rounds), Number(v.threads)];

const members = await Promise.all(positionals.map(async (dir) => {
  const b = await readBundle(dir);
  return { where: dir, manifest: b.manifest, model: new Uint8Array(await fs.readFile(b.modelPath)) };
}));
const ensemble = v.tta ? withTta(members[0]!.manifest, members[0]!.model, parseTta('--tta', v.tta), members[0]!.where) : buildEnsemble(members, { combine: v.combine as CombineMode });

interface Subject { readonly label: string; readonly manifest: BundleManifest; readonly session: ModelSession; readonly times: number[] }
const subjects: Subject[] = [];
for (const [label, m] of [...members.slice(0, v.tta ? 1 : undefined).map((x) => [x.where, x] as const), [v.tta ? `--tta ${v.tta}` : 'ensemble', ensemble] as const]) {
  subjects.push({ label, manifest: m.manifest, session: await ModelSession.create(m.model, { threads }), times: [] });
}

const rng = new Rng(1);
const batchFor = (m: BundleManifest) => Float32Array.from({ length: batch * imageFloats(modelInputs(m)) }, () => rng.next());
const inputs = new Map(subjects.map((s) => [s, batchFor(s.manifest)]));
const runOnce = async (s: Subject) => {
  const feeds = inputFeeds(modelInputs(s.manifest), inputs.get(s)!, batch);
  const t0 = performance.now();
  await s.session.run(feeds, [s.manifest.output.name]);
  return performance.now() - t0;
};
for (const s of subjects) await runOnce(s); // warm-up: the first run plans memory
for (let r = 0; r < rounds; r++) for (const s of subjects) s.times.push(await runOnce(s));

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows = subjects.map((s) => [s.label, median(s.times)] as const);
const membersSum = rows.slice(0, -1).reduce((a, [, t]) => a + t, 0);
const ens = rows.at(-1)![1];
console.log(`batch ${batch}, ${rounds} rounds, ${threads} thread(s), combine ${v.combine}; median ms per batch`);
for (const [label, t] of rows) console.log(`  ${label.padEnd(40)} ${t.toFixed(1)}`);
if (v.tta) {
  const views = ensemble.manifest.tta!.views;
  console.log(`augmented / one pass: ${(ens / membersSum).toFixed(3)} for ${views} views (${(ens / membersSum / views).toFixed(3)} per view)`);
} else {
  console.log(`  members summed${' '.repeat(26)} ${membersSum.toFixed(1)}`);
  console.log(`ensemble / sum of members: ${(ens / membersSum).toFixed(3)} (target ≤ 1.10)`);
}
await Promise.all(subjects.map((s) => s.session.release()));
