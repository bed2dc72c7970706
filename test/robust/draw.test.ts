/**
 * The attack on randomised member selection, on a toy ensemble of three linear taggers (logits = flatten(x)·W + b,
 * so every member's loss and gradient have a closed form): the expectation over the draw is the odds-weighted sum
 * of the members' losses and gradients, and success is reported as the draw-weighted probability.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeEnsemble } from '../../src/compose/bundles.ts';
import { encodeWeights } from '../../src/formats/safetensors.ts';
import { BUNDLE_FORMAT, BUNDLE_VERSION, SPEC_FILE, WEIGHTS_FILE, presetSpec, readBundle, writeBundle } from '../../src/infer/bundle.ts';
import { DEFAULT_INPUT, DEFAULT_OUTPUT, exportInference } from '../../src/models/export.ts';
import { Rng } from '../../src/models/random.ts';
import { variables } from '../../src/models/shapes.ts';
import { encodeSpec } from '../../src/models/spec-file.ts';
import { attackDrawBatch, drawGradient, expectedLoss, openDrawVictim, type DrawVictim } from '../../src/robust/draw.ts';
import { LOSS_DEFAULTS, goalTerms, tagThresholds, type Goal } from '../../src/robust/goals.ts';
import { UNDEFENDED } from '../../src/robust/defended.ts';
import type { AttackSettings } from '../../src/robust/attack.ts';
import { cli } from '../helpers/cli.ts';
import { noiseImage } from '../helpers/images.ts';
import { linearSpec } from '../helpers/linear-spec.ts';

const S = 4, D = S * S * 3, ODDS = [0.5, 0.3, 0.2];
const rng = new Rng(3);
const column = (scale: number) => Float64Array.from({ length: D }, () => (rng.next() < 0.5 ? -scale : scale));

/** Member k: its tags, W (D × tags, by column) and b. Tag p: member 2 pulls against member 1, member 3 with it. */
const p1 = column(0.15);
const MEMBERS = [
  { name: 'm1', tags: ['p', 'q', 'r'], W: [p1, column(0.05), column(0.05)], b: [1, 0.3, -0.4] },
  { name: 'm2', tags: ['p', 'q', 'r'], W: [p1.map((v) => -v), column(0.05), column(0.05)], b: [1, -0.2, 0.5] },
  { name: 'm3', tags: ['p', 'q'], W: [p1.slice(), column(0.05)], b: [1, 0.1] },
];

let dir: string, ensemble: string, victim: DrawVictim, thresholds: Float64Array;

const logitsOf = (k: number, x: ArrayLike<number>, from = 0) => MEMBERS[k]!.W.map((w, t) => w.reduce((s, v, j) => s + v * x[from + j]!, MEMBERS[k]!.b[t]!));
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-draw-'));
  const dirs = await Promise.all(MEMBERS.map(async (m) => {
    const spec = linearSpec(S, S, m.tags.length);
    const kernel = new Float32Array(D * m.tags.length);
    m.W.forEach((w, t) => w.forEach((v, j) => (kernel[j * m.tags.length + t] = v)));
    const weights = new Map([['head/kernel', kernel], ['head/bias', Float32Array.from(m.b)]]);
    const out = path.join(dir, m.name);
    await writeBundle(out, {
      format: BUNDLE_FORMAT, version: BUNDLE_VERSION, name: m.name, model: 'model.onnx', input: { name: DEFAULT_INPUT, batch: 'dynamic' },
      output: { name: DEFAULT_OUTPUT, activation: 'sigmoid' }, preset: 'deepdanbooru', preprocess: presetSpec('deepdanbooru', { width: S, height: S }),
      tags: m.tags.map((name) => ({ name, category: 'general' })), thresholds: { default: 0.5 }, provenance: { createdBy: 'test' },
      weights: WEIGHTS_FILE, spec: SPEC_FILE,
    }, exportInference(spec, weights, { batch: 'N' }));
    await fs.writeFile(path.join(out, WEIGHTS_FILE), encodeWeights(variables(spec), weights));
    await fs.writeFile(path.join(out, SPEC_FILE), encodeSpec(spec));
    return out;
  }));
  ensemble = path.join(dir, 'muldef');
  await writeEnsemble(dirs, ensemble, { combine: 'random', weights: ODDS });
  const bundle = await readBundle(ensemble);
  thresholds = tagThresholds(bundle.manifest);
  victim = await openDrawVictim(bundle, { threads: 1, gradients: 'all' });
});

afterAll(async () => {
  await victim?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

const HIDE_P: Goal = { kind: 'hide', tag: 0 };

describe('the expectation over the draw', () => {
  test('E_k[L_k] and its gradient are the odds-weighted sums of the members\' hinge losses and closed-form gradients', async () => {
    const n = 2, x = Float32Array.from({ length: n * D }, () => rng.next());
    // each member's clean side, by hand; member 3's answer for r is the others' mean (as the graph fills it)
    const z = (i: number) => MEMBERS.map((_, k) => logitsOf(k, x, i * D));
    const rows = (i: number) => z(i).map((zk, k) => (k < 2 ? zk : [...zk, Math.log(((ODDS[0]! * sigmoid(z(i)[0]![2]!) + ODDS[1]! * sigmoid(z(i)[1]![2]!)) / 0.8) / (1 - (ODDS[0]! * sigmoid(z(i)[0]![2]!) + ODDS[1]! * sigmoid(z(i)[1]![2]!)) / 0.8))]));
    const terms = [0, 1].map((i) => rows(i).map((r) => goalTerms(HIDE_P, Uint8Array.from(r, (v) => (sigmoid(v) >= 0.5 ? 1 : 0)), thresholds, LOSS_DEFAULTS)));
    const got = await drawGradient(victim, x, terms, ODDS);
    const logits = await victim.memberLogits(x, n);
    for (let i = 0; i < n; i++) {
      let loss = 0, judged = 0;
      const grad = new Float64Array(D);
      rows(i).forEach((r, k) => {
        const t = terms[i]![k]!;
        r.forEach((zt, c) => {
          const slack = t.offset[c]! - t.sign[c]! * zt, term = t.weight[c]! * Math.max(0, slack);
          judged += ODDS[k]! * term;
          if (c >= MEMBERS[k]!.tags.length) return; // the member's gradient knows only its own tags
          loss += ODDS[k]! * term;
          if (slack > 0) MEMBERS[k]!.W[c]!.forEach((w, j) => (grad[j]! += ODDS[k]! * t.weight[c]! * -t.sign[c]! * w));
        });
      });
      expect(got.loss[i]).toBeCloseTo(loss, 4);
      expect(expectedLoss(logits, i, terms[i]!, ODDS)).toBeCloseTo(judged, 4);
      for (let j = 0; j < D; j++) expect(got.grad[i * D + j]).toBeCloseTo(grad[j]!, 4);
    }
  });
});

describe('success over the draw', () => {
  const settings: AttackSettings = { method: 'pgd', norm: 'linf', eps: 0.5, steps: 40, restarts: 1, threat: UNDEFENDED, seed: 1, loss: LOSS_DEFAULTS };
  const x0 = Float32Array.from({ length: D }, () => 0.3 + 0.4 * rng.next());

  test('hiding p: member 2 pulls against members 1 and 3, so no perturbation wins every draw; the probability is Σ w_k [p hidden under k]', async () => {
    expect(MEMBERS.map((_, k) => logitsOf(k, x0)[0]! > 0)).toEqual([true, true, true]);
    for (const objective of [{ kind: 'expected' as const }, { kind: 'member' as const, member: 0 }]) {
      const [a] = await attackDrawBatch(victim, x0, [HIDE_P], thresholds, settings, objective);
      expect(a!.applies).toBe(true);
      expect(a!.before.probability).toBe(0);
      const hidden = MEMBERS.map((_, k) => logitsOf(k, a!.x)[0]! < 0);
      expect(a!.outcome.met).toEqual(hidden);
      expect(a!.outcome.probability).toBeCloseTo(hidden.reduce((s, h, k) => s + (h ? ODDS[k]! : 0), 0), 6);
      // not one lucky draw: members 1 and 3 fooled, member 2 not
      expect(a!.outcome.probability).toBeCloseTo(0.7, 6);
    }
  });

  test('the CLI reports the probability per image and as the summary\'s rate; --draw and --eot are checked', async () => {
    const image = await noiseImage(path.join(dir, 'img.png'), S, S, 4);
    const out = path.join(dir, 'adv');
    const r = await cli(['attack', ensemble, image, '--goal', 'hide:p', '--eps', '0.5', '--steps', '40', '--draw', 'member:1', '--threads', '1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(await fs.readFile(path.join(out, 'img.json'), 'utf8')) as { objective: string; applies: boolean; model: { successProbability: number; members: { name: string; weight: number; success: boolean }[] } };
    const summary = JSON.parse(await fs.readFile(path.join(out, 'summary.json'), 'utf8')) as { successRate: number; objective: string; attacked: number };
    expect(report.objective).toBe('member:1');
    expect(report.model.members.map((m) => m.name)).toEqual(['m1', 'm2', 'm3']);
    const weighted = report.model.members.reduce((s, m, k) => s + (m.success ? ODDS[k]! : 0), 0);
    expect(report.model.successProbability).toBeCloseTo(weighted, 6);
    expect(summary).toMatchObject({ objective: 'member:1', attacked: report.applies ? 1 : 0 });
    expect(summary.successRate).toBeCloseTo(report.applies ? weighted : 0, 6);
    const eot = await cli(['attack', ensemble, image, '--goal', 'hide:p', '--eot', '3', '--out', out]);
    expect([eot.code, eot.stderr]).toEqual([2, expect.stringMatching(/exact expectation over the draw.*--eot has nothing to sample/)]);
    const bad = await cli(['attack', ensemble, image, '--goal', 'hide:p', '--draw', 'member:4', '--out', out]);
    expect(bad.stderr).toMatch(/Expected expected or member:<1–3> for --draw but received "member:4"/);
    const single = await cli(['attack', path.join(dir, 'm1'), image, '--goal', 'hide:p', '--draw', 'expected', '--out', out]);
    expect(single.stderr).toMatch(/--draw applies to an ensemble built with --combine random/);
  });
});
