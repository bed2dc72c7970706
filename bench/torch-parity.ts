/**
 * Checks that bench/torch_resnet.py is the same network as tagbooru's export: random BN statistics (so no
 * residual branch is zero), one set of weights, the ONNX graph on ORT vs PyTorch eager and frozen, NCHW and
 * channels_last. Sizes 64 and 75 cover TF SAME's even (asymmetric) and odd (symmetric) padding cases.
 *
 *   MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 node --import tsx bench/torch-parity.ts [--models v4,v3]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { ModelSession } from '../src/infer/session.ts';
import { exportInference } from '../src/models/export.ts';
import { initWeights } from '../src/models/init.ts';
import { Rng } from '../src/models/random.ts';
import { buildModel } from '../src/models/registry.ts';
import { variables } from '../src/models/shapes.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ARCH: Record<string, string> = { v3: 'resnet_custom_v3', v4: 'resnet_custom_v4' };
const { values } = parseArgs({ options: { models: { type: 'string', default: 'v4' }, sizes: { type: 'string', default: '64,75' }, tags: { type: 'string', default: '37' } } });
const tags = Number(values.tags);
let ok = true;

for (const key of values.models.split(',')) {
  for (const size of values.sizes.split(',').map(Number)) {
    const arch = ARCH[key] ?? key;
    const spec = buildModel(arch, { tags, imageSize: [size, size] });
    const weights = initWeights(spec, 1);
    const rng = new Rng(7);
    for (const [k, w] of weights) {
      const v = k.split('/')[1];
      // small gammas keep ~60 residual additions from saturating the sigmoid
      if (v === 'gamma') w.forEach((_, i) => (w[i] = rng.uniform(0.1, 0.4)));
      if (v === 'beta' || v === 'moving_mean') w.forEach((_, i) => (w[i] = rng.uniform(-0.1, 0.1)));
      if (v === 'moving_variance') w.forEach((_, i) => (w[i] = rng.uniform(0.5, 1.5)));
    }
    const batch = 2;
    const session = await ModelSession.create(exportInference(spec, weights, { batch }), { threads: 2 });
    const input = new Float32Array(batch * size * size * 3).map(() => rng.uniform(0, 1));
    const out = (await session.run({ [session.inputs[0]!.name]: { data: input, dims: [batch, size, size, 3] } }))[session.outputs[0]!.name]!;
    await session.release();

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tagbooru-parity-'));
    const vars = variables(spec);
    const flat = new Float32Array(vars.reduce((n, v) => n + weights.get(v.key)!.length, 0));
    let offset = 0;
    for (const v of vars) {
      const w = weights.get(v.key)!;
      flat.set(w, offset);
      offset += w.length;
    }
    fs.writeFileSync(path.join(dir, 'weights.bin'), flat);
    fs.writeFileSync(path.join(dir, 'input.bin'), input);
    fs.writeFileSync(path.join(dir, 'output.bin'), out.data);
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ variables: vars.map((v) => ({ key: v.key, shape: v.shape })), input: [batch, size, size, 3], output: out.dims }));
    const py = spawnSync('/usr/bin/python3', ['bench/torch_resnet.py', '--parity', dir, '--arch', arch, '--tags', String(tags), '--size', String(size)], { cwd: ROOT, encoding: 'utf8' });
    process.stdout.write(py.stdout + py.stderr);
    ok &&= py.status === 0;
    fs.rmSync(dir, { recursive: true });
  }
}
console.log(ok ? 'parity: PASS (max |ORT − PyTorch| < 1e-4 everywhere)' : 'parity: FAIL');
process.exitCode = ok ? 0 : 1;
