/**
 * training/ablation/: the plan (settings, data sets that never overlap the training set, one project per arm
 * that differs only in its augmentation), the table, and one --quick run end to end that a second run
 * finds finished and reprints without training again.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ARMS, armProject, datasetArgs, FULL, parseSettings, TEST_SETS } from '../../training/ablation/plan.ts';
import { markdownTables, meanOver, resultFiles, scoreOf, trainTimes, type Results } from '../../training/ablation/report.ts';
import { resolveAugmentation } from '../../src/train/augmentation-config.ts';

const here = path.resolve('training/ablation');

describe('ablation plan', () => {
  it('defaults to the full run, --quick to tiny settings, flags override either', () => {
    const full = parseSettings([], here);
    expect(full).toMatchObject({ ...FULL, out: path.join(here, 'data/full') });
    expect(full.arms).toEqual(['none', 'deepdanbooru', '+flips+crops', '+corruptions', '+greyscale', 'all']);
    expect(full.sets.map((s) => s.name)).toEqual(['plain', 'shifted-style', 'shifted-monochrome', 'shifted-one-face', 'shifted-tiny', 'shifted-jpeg', 'shifted-downscale']);
    const quick = parseSettings(['--quick', '--size', '48', '--arms', 'none,all', '--sets', 'plain'], here);
    expect(quick).toMatchObject({ size: 48, trainCount: 24, model: 'resnet_custom_mini', arms: ['none', 'all'] });
    expect(quick.sets.map((s) => s.name)).toEqual(['plain']);
  });

  it('a bad flag names itself and what it accepts', () => {
    expect(() => parseSettings(['--size', '8'], here)).toThrow(/between 16 and 1024 for --size but received "8"/);
    expect(() => parseSettings(['--arms', 'none,flips'], here)).toThrow(/one of none, deepdanbooru, .*, all for --arms but received "flips"/);
    expect(() => parseSettings(['--sets', 'shifted-blur'], here)).toThrow(/one of plain, shifted-style, .* for --sets but received "shifted-blur"/);
    expect(() => parseSettings(['--train-count', '1000001'], here)).toThrow(/between 8 and 1000000 for --train-count/);
  });

  it('every arm trains the same model on the same data for the same steps; only the augmentation differs', () => {
    const s = parseSettings([], here);
    const projects = ARMS.map((arm) => armProject(s, arm, 'db.sqlite'));
    const { augmentation: _, ...first } = projects[0]!;
    for (const [i, p] of projects.entries()) {
      const { augmentation, ...rest } = p;
      expect(rest).toEqual(first);
      expect(augmentation).toEqual({ preset: ARMS[i] });
      expect(() => resolveAugmentation(augmentation, 'project.json')).not.toThrow();
    }
    expect(first).toMatchObject({ model: 'resnet_custom_narrow', image_width: 160, epoch_count: 12, export_model_per_epoch: 12, database_path: 'db.sqlite', seed: 1 });
    expect(armProject(parseSettings(['--seed', '3'], here), 'all', 'db.sqlite')).toMatchObject({ seed: 3 });
  });

  it('held-out sets use seeds and ids the training set never uses', () => {
    const s = parseSettings(['--train-count', String(1_000_000)], here);
    const arg = (args: string[], flag: string) => Number(args[args.indexOf(flag) + 1]);
    const train = datasetArgs(s, 'd', 'train');
    expect(train).toContain('default');
    expect(train).not.toContain('--no-masks');
    const trainIds = [arg(train, '--start-id'), arg(train, '--start-id') + s.trainCount - 1];
    const seeds = new Set([arg(train, '--seed')]);
    for (const set of TEST_SETS) {
      const a = datasetArgs(s, 'd', set);
      expect(a[a.indexOf('--preset') + 1]).toBe(set.preset);
      expect(arg(a, '--start-id')).toBeGreaterThan(trainIds[1]!);
      seeds.add(arg(a, '--seed'));
    }
    expect(seeds.size).toBe(TEST_SETS.length + 1);
  });
});

describe('ablation table', () => {
  const score = (macroF1: number, mAP: number) => ({ macroF1, mAP, microF1: 0, samples: 10 });
  const results: Results = {
    settings: {},
    arms: ['none', 'all'],
    sets: ['plain', 'shifted-jpeg', 'shifted-tiny'],
    scores: { none: { plain: score(0.9, 0.95), 'shifted-jpeg': score(0.5, 0.6), 'shifted-tiny': score(0.3, 0.4) }, all: { plain: score(0.8, 0.97), 'shifted-jpeg': score(0.7, 0.8) } },
    trainSeconds: {},
  };

  it('puts a row per test set and a column per arm, bolds the best, and means the shifted sets only', () => {
    const md = markdownTables([results]);
    expect(md).toContain('| macro-F1 | `none` | `all` |');
    expect(md).toContain('| plain | **0.900** | 0.800 |');
    expect(md).toContain('| shifted-tiny | **0.300** | – |');
    expect(md).toContain('| mean of shifted | 0.400 | **0.700** |');
    expect(md).toContain('| plain | 0.950 | **0.970** |');
    expect(meanOver(results, 'none', 'mAP', (s) => s !== 'plain')).toBeCloseTo(0.5);
  });

  it('over several training seeds gives each cell its mean ± standard deviation', () => {
    const other: Results = { ...results, scores: { none: { plain: score(0.7, 0.95), 'shifted-jpeg': score(0.5, 0.6) }, all: results.scores.all! } };
    const md = markdownTables([results, other]);
    expect(md).toContain('| plain | **0.800 ± 0.141** | **0.800 ± 0.000** |');
    expect(md).toContain('| shifted-tiny | **0.300** | – |');
    // each run's mean of the shifted sets first: none 0.4 and 0.5
    expect(md).toContain('| mean of shifted | 0.450 ± 0.071 | **0.700 ± 0.000** |');
  });

  it('gives every arm its training seconds per run, rounded, and a dash for an arm a run lacks', () => {
    const first: Results = { ...results, trainSeconds: { none: 86.4, all: 196.6 } };
    const second: Results = { ...results, trainSeconds: { none: 61.5 } };
    expect(trainTimes([first, second])).toBe('`none` 86 / 62 s, `all` 197 / – s');
  });

  it('lists seed 1 first, then the other seeds by number, and nothing else', () => {
    // a plain sort puts results-seed2.json before results.json ('-' < '.') and seed10 before seed2
    expect(resultFiles(['results-seed2.json', 'metrics', 'results.json', 'results-seed10.json', 'results-seedx.json', 'results.json.tmp'])).toEqual(['results.json', 'results-seed2.json', 'results-seed10.json']);
  });

  it('reads metrics --format json and refuses anything else', () => {
    expect(scoreOf(JSON.stringify({ model: 'm', macroF1: 0.5, mAP: 0.6, microF1: 0.7, samples: 3, perTag: [] }))).toEqual({ macroF1: 0.5, mAP: 0.6, microF1: 0.7, samples: 3 });
    expect(() => scoreOf('{"macroF1": 0.5}')).toThrow(/not a metrics/);
  });
});

describe('ablation --quick end to end', () => {
  let out = '';
  afterAll(async () => {
    if (out) await fs.rm(out, { recursive: true, force: true });
  });

  it('generates, trains, scores and prints the table; a second run trains nothing and prints the same table', async () => {
    out = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-ablation-'));
    const run = () => spawnSync(process.execPath, ['--import', 'tsx', 'training/ablation/run.ts', '--quick', '--out', out, '--arms', 'none', '--sets', 'shifted-jpeg'], { encoding: 'utf8' });
    const first = run();
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/\| shifted-jpeg \| \*\*\d\.\d{3}\*\* \|/);
    expect(first.stderr).toContain('training arm none');
    const results = JSON.parse(await fs.readFile(path.join(out, 'results.json'), 'utf8')) as Results;
    expect(results.scores.none?.['shifted-jpeg']?.samples).toBe(8);
    const again = run();
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).not.toContain('training arm');
    expect(again.stderr).not.toContain('generating');
    expect(again.stdout).toBe(first.stdout);
  }, 120_000);
});
