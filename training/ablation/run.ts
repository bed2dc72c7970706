/**
 * The augmentation ablation (issue 22, part 4): one training set, the plain and six shifted held-out sets,
 * the same model trained for the same steps under each augmentation preset, every arm scored on every set.
 *   node --import tsx training/ablation/run.ts [flags]     (full run; --quick for a seconds-long smoke run)
 * Resumable: finished data sets, arms and scores are kept; an interrupted arm resumes from its checkpoint.
 * Writes <out>/results.json (results-seed<n>.json for another --seed) and prints the markdown tables on stdout (progress goes to stderr).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { armProject, datasetArgs, parseSettings, USAGE, type AblationSettings } from './plan.ts';
import type { PresetName } from '../../src/train/augmentation-config.ts';
import { markdownTables, scoreOf, type Results, type Score } from './report.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '../../bin/tagbooru.js');
// as train.sh: glibc returning freed pages to the OS after every step costs more than the memory it saves
const env = { ...process.env, MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '4294967296' };

/** Runs the CLI; its stdout joins our stderr unless captured, so stdout carries only the tables. */
function tagbooru(args: readonly string[], capture = false): string {
  const r = spawnSync(process.execPath, [cli, ...args], { env, stdio: ['ignore', capture ? 'pipe' : process.stderr, 'inherit'], encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`tagbooru ${args.join(' ')} failed (${r.status ?? r.signal})`);
  return r.stdout ?? '';
}

/** A data set is finished when its marker exists; a half-written one is drawn again from scratch. */
function ensureDataset(s: AblationSettings, name: string, args: string[]): string {
  const dir = path.join(s.out, 'data', name), done = path.join(dir, '.complete');
  if (!fs.existsSync(done)) {
    fs.rmSync(dir, { recursive: true, force: true });
    process.stderr.write(`generating ${name}\n`);
    tagbooru(args);
    fs.writeFileSync(done, `${JSON.stringify(args)}\n`);
  }
  return path.join(dir, 'dataset.sqlite');
}

/** Arms of another training seed sit beside seed 1's and share its data sets. */
const suffix = (s: AblationSettings) => (s.seed === 1 ? '' : `-seed${s.seed}`);
const armDir = (s: AblationSettings, arm: string) => path.join(s.out, `arms${suffix(s)}`, arm);

function trainArm(s: AblationSettings, arm: PresetName, trainDir: string): { bundle: string; seconds: number } {
  const dir = armDir(s, arm), bundle = path.join(dir, `model-${s.model}`), timeFile = path.join(dir, 'train-seconds.json');
  fs.mkdirSync(dir, { recursive: true });
  const database = path.relative(dir, path.join(trainDir, 'dataset.sqlite'));
  fs.writeFileSync(path.join(dir, 'project.json'), `${JSON.stringify(armProject(s, arm, database), null, 1)}\n`);
  for (const f of ['tags.txt', 'categories.json']) fs.copyFileSync(path.join(trainDir, f), path.join(dir, f));
  const before = fs.existsSync(timeFile) ? (JSON.parse(fs.readFileSync(timeFile, 'utf8')) as number) : 0;
  if (fs.existsSync(path.join(bundle, 'tagger.json'))) return { bundle, seconds: before };
  process.stderr.write(`training arm ${arm}\n`);
  const start = Date.now();
  try {
    tagbooru(['train-project', dir, ...(s.threads > 0 ? ['--threads', String(s.threads)] : [])]);
  } finally {
    fs.writeFileSync(timeFile, `${before + (Date.now() - start) / 1000}\n`);
  }
  return { bundle, seconds: before + (Date.now() - start) / 1000 };
}

function scoreArm(s: AblationSettings, arm: string, bundle: string, set: string, database: string): Score {
  const file = path.join(armDir(s, arm), 'metrics', `${set}.json`);
  if (!fs.existsSync(file)) {
    const json = tagbooru(['metrics', bundle, database, '--all', '--format', 'json'], true);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, json);
  }
  return scoreOf(fs.readFileSync(file, 'utf8'));
}

function main(argv: readonly string[]): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const s = parseSettings(argv, here);
  const trainDb = ensureDataset(s, 'train', datasetArgs(s, path.join(s.out, 'data', 'train'), 'train'));
  const testDbs = new Map(s.sets.map((set) => [set.name, ensureDataset(s, set.name, datasetArgs(s, path.join(s.out, 'data', set.name), set))]));
  const results: Results = { settings: { ...s, sets: s.sets.map((t) => t.name) }, arms: s.arms, sets: [...testDbs.keys()], scores: {}, trainSeconds: {} };
  for (const arm of s.arms) {
    const { bundle, seconds } = trainArm(s, arm, path.dirname(trainDb));
    results.trainSeconds[arm] = Math.round(seconds);
    results.scores[arm] = Object.fromEntries([...testDbs].map(([set, db]) => [set, scoreArm(s, arm, bundle, set, db)]));
  }
  fs.writeFileSync(path.join(s.out, `results${suffix(s)}.json`), `${JSON.stringify(results, null, 1)}\n`);
  process.stdout.write(markdownTables([results]));
}

main(process.argv.slice(2));
