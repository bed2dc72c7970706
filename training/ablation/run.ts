/**
 * The augmentation ablation (issue 22, part 4): one training set, the plain and six shifted held-out sets,
 * the same model trained for the same steps under each augmentation preset, every arm scored on every set.
 *   node --import tsx training/ablation/run.ts [flags]     (full run; --quick for a seconds-long smoke run)
 * Resumable: finished data sets, arms and scores are kept; an interrupted arm resumes from its checkpoint.
 * Writes <out>/results.json (results-seed<n>.json for another --seed) and prints the markdown tables on stdout (progress goes to stderr).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { armProject, datasetArgs, parseSettings, USAGE, type AblationSettings } from './plan.ts';
import type { PresetName } from '../../src/train/augmentation-config.ts';
import { markdownTables, type Results, type Score } from './report.ts';
import { ensureDataset, scoreCached, trainProjectIn } from './steps.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Arms of another training seed sit beside seed 1's and share its data sets. */
const suffix = (s: AblationSettings) => (s.seed === 1 ? '' : `-seed${s.seed}`);
const armDir = (s: AblationSettings, arm: string) => path.join(s.out, `arms${suffix(s)}`, arm);

function trainArm(s: AblationSettings, arm: PresetName, trainDir: string): { bundle: string; seconds: number } {
  const dir = armDir(s, arm);
  const project = armProject(s, arm, path.relative(dir, path.join(trainDir, 'dataset.sqlite')));
  return trainProjectIn(dir, project, trainDir, { threads: s.threads, model: s.model, label: `arm ${arm}` });
}

function scoreArm(s: AblationSettings, arm: string, bundle: string, set: string, database: string): Score {
  return scoreCached(path.join(armDir(s, arm), 'metrics', `${set}.json`), bundle, database);
}

function main(argv: readonly string[]): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const s = parseSettings(argv, here);
  const trainDb = ensureDataset(s.out, 'train', datasetArgs(s, path.join(s.out, 'data', 'train'), 'train'));
  const testDbs = new Map(s.sets.map((set) => [set.name, ensureDataset(s.out, set.name, datasetArgs(s, path.join(s.out, 'data', set.name), set))]));
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
