/**
 * The steps the measurement scripts (training/ablation, training/ensembles) run through the CLI: the command
 * itself, data sets generated once and marked complete, and scores cached per bundle and test set.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { scoreOf, type Score } from './report.ts';

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../bin/tagbooru.js');
// as train.sh: glibc returning freed pages to the OS after every step costs more than the memory it saves
const env = { ...process.env, MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '4294967296' };

/** Runs the CLI; its stdout joins our stderr unless captured, so stdout carries only the tables. */
export function tagbooru(args: readonly string[], capture = false): string {
  const r = spawnSync(process.execPath, [cli, ...args], { env, stdio: ['ignore', capture ? 'pipe' : process.stderr, 'inherit'], encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`tagbooru ${args.join(' ')} failed (${r.status ?? r.signal})`);
  return r.stdout ?? '';
}

/** Whether this tagbooru has the command (a branch may not have merged it yet). */
export function hasCommand(name: string): boolean {
  const r = spawnSync(process.execPath, [cli, name, '--help'], { env, encoding: 'utf8' });
  return !r.stderr.includes(`unknown command "${name}"`);
}

/** A data set under <out>/data/<name> is finished when its marker exists; a half-written one is drawn again from scratch. */
export function ensureDataset(out: string, name: string, args: string[]): string {
  const dir = path.join(out, 'data', name), done = path.join(dir, '.complete');
  if (!fs.existsSync(done)) {
    fs.rmSync(dir, { recursive: true, force: true });
    process.stderr.write(`generating ${name}\n`);
    tagbooru(args);
    fs.writeFileSync(done, `${JSON.stringify(args)}\n`);
  }
  return path.join(dir, 'dataset.sqlite');
}

/** `metrics --all --format json` of a bundle on a database, kept in `file` so a second run scores nothing again. */
export function metricsCached(file: string, bundle: string, database: string): string {
  if (!fs.existsSync(file)) {
    const json = tagbooru(['metrics', bundle, database, '--all', '--format', 'json'], true);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, json);
  }
  return fs.readFileSync(file, 'utf8');
}

export function scoreCached(file: string, bundle: string, database: string): Score {
  return scoreOf(metricsCached(file, bundle, database));
}

/**
 * A project folder with this project.json and the training set's tags, trained by train-project unless its
 * final bundle exists (an interrupted run resumes from its checkpoint); wall-clock seconds summed over runs.
 */
export function trainProjectIn(dir: string, project: Record<string, unknown>, trainDir: string, o: { threads: number; model: string; label: string }): { bundle: string; seconds: number } {
  const bundle = path.join(dir, `model-${o.model}`), timeFile = path.join(dir, 'train-seconds.json');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'project.json'), `${JSON.stringify(project, null, 1)}\n`);
  for (const f of ['tags.txt', 'categories.json']) fs.copyFileSync(path.join(trainDir, f), path.join(dir, f));
  const before = fs.existsSync(timeFile) ? (JSON.parse(fs.readFileSync(timeFile, 'utf8')) as number) : 0;
  if (fs.existsSync(path.join(bundle, 'tagger.json'))) return { bundle, seconds: before };
  process.stderr.write(`training ${o.label}\n`);
  const start = Date.now();
  try {
    tagbooru(['train-project', dir, ...(o.threads > 0 ? ['--threads', String(o.threads)] : [])]);
  } finally {
    fs.writeFileSync(timeFile, `${before + (Date.now() - start) / 1000}\n`);
  }
  return { bundle, seconds: before + (Date.now() - start) / 1000 };
}
