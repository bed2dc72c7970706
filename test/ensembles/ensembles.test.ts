/**
 * training/ensembles/: the plan (members differ only in their seed, a student is one more seed with the
 * teacher set, beside its baseline: the same seed and schedule trained alone), the tables and the retention of the
 * ensemble's gain, and one --quick run end to end for the parts
 * this branch has: members, their scores, the distilled student and latencies; the ensemble and calibrate
 * steps are skipped with a note when the command is missing, and built when it is there.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TrainingDatabase } from '../../src/data/training-db.ts';
import { hasCommand } from '../../training/ablation/steps.ts';
import { FULL, aloneFolder, aloneProject, aloneRuns, memberProject, parseSettings, studentArms, studentFolder, studentProject } from '../../training/ensembles/plan.ts';
import { calibrationOf, markdownTables, meanRow, retention, retentionNote, type EnsembleResults, type Row } from '../../training/ensembles/report.ts';

const here = path.resolve('training/ensembles');

describe('ensembles plan', () => {
  it('defaults to five members, ensembles of 3 and 5, TTA and calibration; --quick to tiny settings; flags override', () => {
    const full = parseSettings([], here);
    expect(full).toMatchObject({ ...FULL, out: path.join(here, 'data/full'), studentEpochs: [8], alphas: [0.5], studentSeeds: [6] });
    expect(full.sets.map((s) => s.name)).toEqual(['plain', 'shifted-style', 'shifted-monochrome', 'shifted-one-face', 'shifted-tiny', 'shifted-jpeg', 'shifted-downscale']);
    const quick = parseSettings(['--quick', '--members', '2', '--ensembles', '2', '--no-tta', '--sets', 'shifted-jpeg'], here);
    expect(quick).toMatchObject({ size: 32, trainCount: 24, members: 2, ensembles: [2], tta: false, model: 'resnet_custom_mini' });
  });

  it('a bad flag names itself and what it accepts', () => {
    expect(() => parseSettings(['--ensembles', '3,6'], here)).toThrow(/between 2 and 5 for --ensembles but received "6"/);
    expect(() => parseSettings(['--alpha', '1.5'], here)).toThrow(/between 0 and 1 for --alpha but received "1.5"/);
    expect(() => parseSettings(['--alpha', '0.5,-0.1'], here)).toThrow(/between 0 and 1 for --alpha but received "-0.1"/);
    expect(() => parseSettings(['--student-epochs', '18,0'], here)).toThrow(/between 1 and 10000 for --student-epochs but received "0"/);
    expect(() => parseSettings(['--student-epochs', '2.5'], here)).toThrow(/an integer between 1 and 10000 for --student-epochs but received "2.5"/);
    expect(() => parseSettings(['--student-epochs', ','], here)).toThrow(/at least one value for --student-epochs/);
    // a member's seed as a student's would make its baseline a copy of that member
    expect(() => parseSettings(['--members', '3', '--ensembles', '3', '--student-seeds', '4,3'], here)).toThrow(/an integer between 4 and 2147483647 for --student-seeds but received "3"/);
    expect(() => parseSettings(['--temperature', '0'], here)).toThrow(/between 0.01 and 100 for --temperature but received "0"/);
    expect(() => parseSettings(['--augmentation', 'flips'], here)).toThrow(/one of none, deepdanbooru, .* for --augmentation but received "flips"/);
  });

  it('members differ in their seed only; the student is another seed of the same project, with its teacher', () => {
    const s = parseSettings([], here);
    const [m1, m2] = [memberProject(s, 1, 'db.sqlite'), memberProject(s, 2, 'db.sqlite')];
    expect({ ...m1, seed: 0 }).toEqual({ ...m2, seed: 0 });
    expect([m1.seed, m2.seed]).toEqual([1, 2]);
    expect(m1).toMatchObject({ model: 'resnet_custom_mini', image_width: 80, epoch_count: 8, minibatch_size: 32, augmentation: { preset: 'all' } });
    const student = studentProject(s, 'db.sqlite', '../ensembles/ens5', { epochs: 8, alpha: 0.5, seed: 6 });
    expect(student).toEqual({ ...m1, seed: 6, teacher: '../ensembles/ens5', distillation: { alpha: 0.5, temperature: 2 } });
    // on the members' schedule too, the student's baseline is its own seed trained alone
    expect(aloneRuns(s)).toEqual([{ epochs: 8, seed: 6 }]);
    expect(aloneProject(s, 'db.sqlite', { epochs: 8, seed: 6 })).toEqual({ ...m1, seed: 6 });
  });

  it('a patient student trains longer, each alpha on each schedule, beside a member trained alone on that schedule', () => {
    const s = parseSettings(['--epochs', '6', '--student-epochs', '18,6', '--alpha', '0.9', '--alpha', '0.5'], here);
    expect(studentArms(s)).toEqual([{ epochs: 6, alpha: 0.5, seed: 6 }, { epochs: 6, alpha: 0.9, seed: 6 }, { epochs: 18, alpha: 0.5, seed: 6 }, { epochs: 18, alpha: 0.9, seed: 6 }]);
    expect(aloneRuns(s)).toEqual([{ epochs: 6, seed: 6 }, { epochs: 18, seed: 6 }]);
    const student = studentProject(s, 'db.sqlite', 'ens', { epochs: 18, alpha: 0.9, seed: 6 });
    const alone = aloneProject(s, 'db.sqlite', { epochs: 18, seed: 6 });
    // the teacher is all that differs: same seed, schedule and its learning-rate drop at two thirds
    expect(student).toEqual({ ...alone, teacher: 'ens', distillation: { alpha: 0.9, temperature: 2 } });
    expect(alone).toMatchObject({ seed: 6, epoch_count: 18, learning_rates: [{ used_epoch: 0, learning_rate: 0.001 }, { used_epoch: 12, learning_rate: 0.0003 }] });
    expect(memberProject(s, 1, 'db.sqlite')).toMatchObject({ epoch_count: 6, learning_rates: [{ used_epoch: 0 }, { used_epoch: 4 }] });
  });

  it('several student seeds: a student and its baseline per seed, the first seed in the folders a single seed had', () => {
    const s = parseSettings(['--epochs', '18', '--student-seeds', '8,6,7'], here);
    expect(s.studentSeeds).toEqual([6, 7, 8]);
    expect(studentArms(s).map((a) => studentFolder(s, a))).toEqual(['student-e18-a0.5', 'student-e18-a0.5-s7', 'student-e18-a0.5-s8']);
    expect(aloneRuns(s).map((r) => aloneFolder(s, r))).toEqual(['alone-e18', 'alone-e18-s7', 'alone-e18-s8']);
    const [, arm7] = studentArms(s);
    expect(studentProject(s, 'db.sqlite', 'ens', arm7!)).toEqual({ ...aloneProject(s, 'db.sqlite', { epochs: 18, seed: 7 }), teacher: 'ens', distillation: { alpha: 0.5, temperature: 2 } });
    expect(aloneProject(s, 'db.sqlite', { epochs: 18, seed: 7 })).toEqual({ ...memberProject(s, 1, 'db.sqlite'), seed: 7 });
  });

  it('--extra-ratio: the students spread the steps of their baseline over k times as many unlabelled images too', () => {
    const s = parseSettings(['--epochs', '18', '--student-epochs', '18', '--extra-ratio', '2', '--student-seeds', '6,7'], here);
    const [arm6, arm7] = studentArms(s);
    // 18 epochs of the training set's steps are 6 epochs of a set three times its size; the baseline keeps 18
    expect(studentProject(s, 'student.sqlite', 'ens', arm6!)).toMatchObject({ database_path: 'student.sqlite', epoch_count: 6, learning_rates: [{ used_epoch: 0 }, { used_epoch: 4 }], seed: 6 });
    expect(aloneRuns(s)).toEqual([{ epochs: 18, seed: 6 }, { epochs: 18, seed: 7 }]);
    expect([studentFolder(s, arm6!), studentFolder(s, arm7!)]).toEqual(['student-e18-a0.5-x2', 'student-e18-a0.5-x2-s7']);
    // another temperature is another student, in its own folder
    const t1 = parseSettings(['--epochs', '18', '--temperature', '1', '--extra-ratio', '2', '--student-seeds', '6,7'], here);
    expect(studentArms(t1).map((a) => studentFolder(t1, a))).toEqual(['student-e18-a0.5-t1-x2', 'student-e18-a0.5-t1-x2-s7']);
    expect(() => parseSettings(['--student-epochs', '18,8', '--extra-ratio', '2'], here)).toThrow(/every --student-epochs to be a multiple of --extra-ratio \+ 1 \(3\), .* but received 8/);
    expect(() => parseSettings(['--extra-ratio', '21'], here)).toThrow(/between 0 and 20 for --extra-ratio but received "21"/);
  });

  it('--mixup: the students blend that share of each batch for the teacher, in folders of their own; the baseline is unchanged', () => {
    const s = parseSettings(['--epochs', '18', '--alpha', '0.9', '--mixup', '0.5', '--student-seeds', '6,7'], here);
    const [arm6, arm7] = studentArms(s);
    expect([studentFolder(s, arm6!), studentFolder(s, arm7!)]).toEqual(['student-e18-a0.9-m0.5', 'student-e18-a0.9-m0.5-s7']);
    expect(studentProject(s, 'db.sqlite', 'ens', arm6!)).toEqual({ ...aloneProject(s, 'db.sqlite', { epochs: 18, seed: 6 }), teacher: 'ens', distillation: { alpha: 0.9, temperature: 2, mixup: 0.5 } });
    expect(aloneRuns(s).map((r) => aloneFolder(s, r))).toEqual(['alone-e18', 'alone-e18-s7']);
    expect(() => parseSettings(['--mixup', '2'], here)).toThrow(/between 0 and 1 for --mixup but received "2"/);
  });
});

describe('ensembles table', () => {
  const score = (macroF1: number, mAP: number) => ({ macroF1, mAP, microF1: 0, samples: 10 });
  const m1 = { name: 'member 1', bundle: 'm1', scores: { plain: score(0.5, 0.6), 'shifted-jpeg': score(0.3, 0.4), 'shifted-tiny': score(0.1, 0.2) }, msPerImage: 2 };
  const m2 = { name: 'member 2', bundle: 'm2', scores: { plain: score(0.7, 0.8), 'shifted-jpeg': score(0.5, 0.6), 'shifted-tiny': score(0.3, 0.2) }, msPerImage: 2.2, calibration: { eceMacro: 0.05 } };
  const results: EnsembleResults = { settings: {}, sets: ['plain', 'shifted-jpeg', 'shifted-tiny'], rows: [m1, m2, meanRow('mean of members', [m1, m2], ['plain', 'shifted-jpeg', 'shifted-tiny'])], notes: ['a note'] };

  it('has a row per model, the mean of the shifted sets, latency relative to member 1, calibration and notes', () => {
    const md = markdownTables(results);
    expect(md).toContain('| mAP | plain | shifted-jpeg | shifted-tiny | mean of shifted | latency (× member 1) |');
    expect(md).toContain('| member 2 | 0.800 | 0.600 | 0.200 | 0.400 | 1.10 (2.2 ms) |');
    expect(md).toContain('| mean of members | 0.700 | 0.500 | 0.200 | 0.350 | – |');
    expect(md).toContain('| member 1 | 0.500 | 0.300 | 0.100 | 0.200 | 1.00 (2.0 ms) |');
    expect(md).toContain('| member 2 | 0.0500 |');
    expect(md).toContain('- a note');
  });

  it('states the share of the ensemble\'s gain a student keeps over a member trained alone, in mean shifted mAP', () => {
    const row = (name: string, jpeg: number, tiny: number): Row => ({ name, scores: { plain: score(0, 0.9), 'shifted-jpeg': score(0, jpeg), 'shifted-tiny': score(0, tiny) } });
    const sets = ['plain', 'shifted-jpeg', 'shifted-tiny'];
    const [alone, ensemble, student] = [row('alone', 0.5, 0.3), row('ens', 0.6, 0.4), row('student', 0.58, 0.3)];
    // shifted means 0.40, 0.50, 0.44: (0.44 − 0.40) / (0.50 − 0.40) = 0.4
    expect(retention(student, alone, ensemble, sets)).toBeCloseTo(0.4, 12);
    expect(retention(alone, alone, ensemble, sets)).toBe(0);
    expect(retention(student, ensemble, alone, sets)).toBeUndefined();
    expect(retentionNote(student, alone, ensemble, sets)).toBe('student: keeps 40 % of the gain of ens over alone (mean shifted mAP: 0.400 alone, 0.500 ensemble, 0.440 student)');
    expect(retentionNote(student, ensemble, alone, sets)).toBe('student: no gain to keep: alone is not above ens (mean shifted mAP: 0.500 alone, 0.400 ensemble, 0.440 student)');
  });

  it('reads calibration figures by name from a metrics document, and none when it has none', () => {
    // the shape `metrics --format json` writes: the figures beside their bins and per-tag rows
    const metrics = { mAP: 0.5, calibration: { pairs: 40, eceMacro: 0.03, eceMicro: 0.02, brierMacro: 0.1, brierMicro: 0.09, bins: [{ low: 0, count: 40 }], perTag: [{ tag: 'a', ece: 0.5 }] } };
    expect(calibrationOf(JSON.stringify(metrics))).toEqual({ eceMacro: 0.03, eceMicro: 0.02, brierMacro: 0.1, brierMicro: 0.09 });
    expect(calibrationOf(JSON.stringify({ mAP: 0.5 }))).toBeUndefined();
  });
});

describe('ensembles --quick end to end', () => {
  let out = '';
  afterAll(async () => {
    if (out) await fs.rm(out, { recursive: true, force: true });
  });

  it('trains members and a distilled student, scores and times them, and a second run trains nothing', async () => {
    out = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-ensembles-'));
    const run = () => spawnSync(process.execPath, ['--import', 'tsx', 'training/ensembles/run.ts', '--quick', '--out', out, '--members', '2', '--ensembles', '2', '--sets', 'shifted-jpeg', '--latency-images', '4', '--student-epochs', '2'], { encoding: 'utf8' });
    const first = run();
    expect(first.status, first.stderr).toBe(0);
    const results = JSON.parse(await fs.readFile(path.join(out, 'results.json'), 'utf8')) as EnsembleResults;
    const names = results.rows.map((r) => r.name);
    expect(names.slice(0, 4)).toEqual(['member 1', 'member 2', expect.stringMatching(/^best member \(member [12], by validation mAP\)$/), 'mean of members']);
    // a student on twice the members' schedule, after a member trained alone on it
    expect(names.slice(-2)).toEqual([
      'member trained alone, 2 epochs (seed 3)',
      expect.stringMatching(/^distilled student \(from (member [12]|the ensemble of 2)\), 2 epochs, alpha 0\.5$/),
    ]);
    expect(first.stderr).toMatch(/distilling from .*: alpha 0\.5, temperature 2; it knows 34 of the 34 tags/);
    for (const row of results.rows) expect(row.scores['shifted-jpeg']?.samples).toBe(8);
    expect(results.rows.filter((r) => r.bundle).every((r) => r.msPerImage! > 0)).toBe(true);
    if (hasCommand('ensemble')) {
      expect(names).toContain('ensemble of 2');
      // the student against its own schedule's baseline, then against the members'
      const kept = results.notes.filter((n) => /^distilled student .*: (keeps -?\d+ % of the gain of ensemble of 2 over|no gain to keep: ensemble of 2 is not above) (mean of members|member trained alone, 2 epochs \(seed 3\)) \(mean shifted mAP/.test(n));
      expect(kept.map((n) => /mean of members|member trained alone/.exec(n)![0])).toEqual(['member trained alone', 'mean of members']);
    }
    else expect(first.stderr).toContain('ensembles skipped: this tagbooru has no `ensemble` command');
    expect(first.stdout).toBe(await fs.readFile(path.join(out, 'results.md'), 'utf8'));

    const again = run();
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/training|generating|building/);
    const rerun = JSON.parse(await fs.readFile(path.join(out, 'results.json'), 'utf8')) as EnsembleResults;
    expect(rerun.rows.map((r) => r.scores)).toEqual(results.rows.map((r) => r.scores));

    // students that also see as many unlabelled images, in their baseline's steps: only the student is new
    const extra = spawnSync(process.execPath, ['--import', 'tsx', 'training/ensembles/run.ts', '--quick', '--out', out, '--members', '2', '--ensembles', '2', '--sets', 'shifted-jpeg', '--latency-images', '4', '--student-epochs', '2', '--extra-ratio', '1'], { encoding: 'utf8' });
    expect(extra.status, extra.stderr).toBe(0);
    expect(extra.stderr).not.toMatch(/skipped/); // every image and mask is there
    expect(extra.stderr.match(/^training .*$/gm)).toEqual([expect.stringMatching(/^training the student from (the ensemble of 2|member [12]), 2 epochs, alpha 0\.5, seed 3$/)]);
    const db = TrainingDatabase.open(path.join(out, 'data', 'student-x1', 'dataset.sqlite'), { readonly: true });
    try {
      const records = [...db.records()], unknown = db.unknownTags();
      const vocabulary = (await fs.readFile(path.join(out, 'data', 'train', 'tags.txt'), 'utf8')).split('\n').filter(Boolean);
      expect(records).toHaveLength(48);
      // the training set's posts keep their labels; every tag of every extra image is unknown, and its file is there
      expect(records.filter((r) => r.id < 30_000_001).every((r) => !unknown.has(r.id))).toBe(true);
      expect(records.filter((r) => r.id >= 30_000_001).map((r) => unknown.get(r.id))).toEqual(Array(24).fill([...vocabulary].sort()));
      for (const r of records) expect((await fs.stat(r.path)).isFile()).toBe(true);
    } finally {
      db.close();
    }
    const project = JSON.parse(await fs.readFile(path.join(out, 'student-e2-a0.5-x1', 'project.json'), 'utf8')) as Record<string, unknown>;
    expect(project).toMatchObject({ database_path: '../data/student-x1/dataset.sqlite', epoch_count: 1 });
  }, 600_000);
});
