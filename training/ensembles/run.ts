/**
 * The ensembles measurement (issue 23, Measure): members trained from different seeds on the augmentation
 * ablation's data, each scored on the plain and the six shifted held-out sets; the best member and the mean of
 * members; ensembles of the first 3 and 5 (`tagbooru ensemble --combine logit-mean`), the largest with flip
 * TTA and a calibrated copy (`tagbooru calibrate`); students of one member's size distilled from the largest
 * ensemble, for a member's schedule or longer ones (--student-epochs) and one or more alphas, each with the
 * share of the ensemble's gain it keeps over a member trained alone on its schedule; and each bundle's latency
 * per image in this same run.
 *   node --import tsx training/ensembles/run.ts [flags]     (full run; --quick for a seconds-long smoke run)
 * A command this tagbooru lacks (ensemble, calibrate) is skipped with a note; without an ensemble the student
 * learns from the best member instead, and the note says so. Resumable like the ablation: finished data sets,
 * trainings, bundles and scores are kept. Writes <out>/results.json and <out>/results.md and prints the tables
 * on stdout (progress goes to stderr).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTagger } from '../../src/index.ts';
import { TrainingDatabase } from '../../src/data/training-db.ts';
import { imagePath } from '../../src/data/paths.ts';
import { datasetArgs } from '../ablation/plan.ts';
import { scoreOf } from '../ablation/report.ts';
import { ensureDataset, hasCommand, metricsCached, tagbooru, trainProjectIn } from '../ablation/steps.ts';
import { USAGE, aloneFolder, aloneProject, aloneRuns, extraDatasetArgs, memberProject, parseSettings, studentArms, studentFolder, studentProject, type EnsembleSettings } from './plan.ts';
import { studentDatabase } from './student-data.ts';
import { calibrationOf, markdownTables, meanRow, retentionNote, type EnsembleResults, type Row } from './report.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

/** A row for a bundle: its scores on every set (cached under <out>/metrics/<key>/) and the plain set's calibration figures. */
function scoreBundle(s: EnsembleSettings, name: string, key: string, bundle: string, tests: ReadonlyMap<string, string>): Row {
  const docs = new Map([...tests].map(([set, db]) => [set, metricsCached(path.join(s.out, 'metrics', key, `${set}.json`), bundle, db)]));
  const plain = docs.get('plain');
  return {
    name, bundle: path.relative(s.out, bundle),
    scores: Object.fromEntries([...docs].map(([set, doc]) => [set, scoreOf(doc)])),
    ...(plain && calibrationOf(plain) && { calibration: calibrationOf(plain) }),
  };
}

/** Validation mAP recorded by train-project in the bundle's metrics.json: how the best member is picked without looking at a test set. */
function validationMap(bundle: string): number {
  return (JSON.parse(fs.readFileSync(path.join(bundle, 'metrics.json'), 'utf8')) as { mAP: number }).mAP;
}

/** Builds a bundle with a CLI command unless its tagger.json exists. */
function compose(dir: string, args: string[]): string {
  if (!fs.existsSync(path.join(dir, 'tagger.json'))) {
    fs.rmSync(dir, { recursive: true, force: true });
    process.stderr.write(`building ${path.basename(dir)}\n`);
    tagbooru(args);
  }
  return dir;
}

/** `tag` on one thread, batch 8, decode included: the median of three passes after a warm-up one, in ms per image. */
async function latency(bundle: string, images: readonly string[]): Promise<number> {
  const tagger = await createTagger(bundle, { threads: 1 });
  try {
    await tagger.tag([...images], { batchSize: 8 });
    const times: number[] = [];
    for (let pass = 0; pass < 3; pass++) {
      const start = performance.now();
      await tagger.tag([...images], { batchSize: 8 });
      times.push((performance.now() - start) / images.length);
    }
    return times.sort((a, b) => a - b)[1]!;
  } finally {
    await tagger.close();
  }
}

function imagesOf(database: string, count: number): string[] {
  const db = TrainingDatabase.open(database, { readonly: true });
  try {
    const out: string[] = [];
    for (const r of db.records()) {
      if (out.length === count) break;
      out.push(imagePath(database, r.md5, r.fileExt));
    }
    return out;
  } finally {
    db.close();
  }
}

async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const s = parseSettings(argv, here);
  const trainDb = ensureDataset(s.out, 'train', datasetArgs(s, path.join(s.out, 'data', 'train'), 'train'));
  const tests = new Map(s.sets.map((set) => [set.name, ensureDataset(s.out, set.name, datasetArgs(s, path.join(s.out, 'data', set.name), set))]));
  const trainDir = path.dirname(trainDb), sets = [...tests.keys()];
  const notes: string[] = [];
  const train = (dir: string, project: (database: string) => Record<string, unknown>, label: string, database = trainDb) =>
    trainProjectIn(dir, project(path.relative(dir, database)), trainDir, { threads: s.threads, model: s.model, label }).bundle;
  // the students' images: the training set, and with --extra-ratio as many steps spread over unlabelled images too
  const studentDb = s.extraRatio ? studentDatabase(trainDb, ensureDataset(s.out, 'extra', extraDatasetArgs(s, path.join(s.out, 'data', 'extra'))), path.join(s.out, 'data', `student-x${s.extraRatio}`)) : trainDb;

  const members = Array.from({ length: s.members }, (_, i) => train(path.join(s.out, 'members', `m${i + 1}`), (db) => memberProject(s, i + 1, db), `member ${i + 1}`));
  const memberRows = members.map((b, i) => scoreBundle(s, `member ${i + 1}`, `m${i + 1}`, b, tests));
  const best = members.map(validationMap).reduce((b, v, i, all) => (v > all[b]! ? i : b), 0);
  const membersMean = meanRow('mean of members', memberRows, sets);
  const rows: Row[] = [...memberRows, { ...memberRows[best]!, name: `best member (member ${best + 1}, by validation mAP)` }, membersMean];

  let teacher = members[best]!, teacherName = `member ${best + 1}`;
  // the largest ensemble's row: the gain a student keeps is measured against it
  let ensembleRow: Row | undefined;
  if (hasCommand('ensemble')) {
    const n = Math.max(...s.ensembles);
    let largest = '';
    for (const size of s.ensembles) {
      const dir = compose(path.join(s.out, 'ensembles', `ens${size}`), ['ensemble', ...members.slice(0, size), '--out', path.join(s.out, 'ensembles', `ens${size}`), '--combine', 'logit-mean']);
      const row = scoreBundle(s, `ensemble of ${size}`, `ens${size}`, dir, tests);
      rows.push(row);
      if (size === n) [largest, ensembleRow] = [dir, row];
    }
    if (s.tta) {
      const dir = compose(path.join(s.out, 'ensembles', `ens${n}-flip`), ['ensemble', ...members.slice(0, n), '--out', path.join(s.out, 'ensembles', `ens${n}-flip`), '--combine', 'logit-mean', '--tta', 'flip']);
      rows.push(scoreBundle(s, `ensemble of ${n} + flip TTA`, `ens${n}-flip`, dir, tests));
    }
    if (s.calibrate && hasCommand('calibrate')) {
      const dir = path.join(s.out, 'ensembles', `ens${n}-calibrated`);
      if (!fs.existsSync(path.join(dir, 'tagger.json'))) {
        fs.rmSync(dir, { recursive: true, force: true });
        fs.cpSync(largest, dir, { recursive: true });
        process.stderr.write(`calibrating ens${n}\n`);
        tagbooru(['calibrate', dir, trainDb]); // fits on the training database's validation split, never a test set
      }
      rows.push(scoreBundle(s, `ensemble of ${n}, calibrated`, `ens${n}-calibrated`, dir, tests));
    } else if (s.calibrate) {
      notes.push('calibration skipped: this tagbooru has no `calibrate` command');
    }
    teacher = largest;
    teacherName = `the ensemble of ${n}`;
  } else {
    notes.push(`ensembles skipped: this tagbooru has no \`ensemble\` command; the student learns from the best member (member ${best + 1}) instead`);
  }
  for (const n of notes) process.stderr.write(`${n}\n`);

  // a student's fair baseline is a member trained alone on its schedule from its seed: the teacher is all that differs
  const alone = new Map<string, Row>();
  for (const run of aloneRuns(s)) {
    const folder = aloneFolder(s, run);
    const bundle = train(path.join(s.out, folder), (db) => aloneProject(s, db, run), `a member alone for ${run.epochs} epochs (seed ${run.seed})`);
    const row = scoreBundle(s, `member trained alone, ${run.epochs} epochs (seed ${run.seed})`, folder, bundle, tests);
    rows.push(row);
    alone.set(`${run.epochs}/${run.seed}`, row);
  }
  const students = new Map<string, Row>();
  // what sets these students apart from a plain one, in their row names
  const variant = (s.extraRatio ? ` (their steps over ${s.extraRatio + 1}× the images, ${s.extraRatio}× unlabelled)` : '') + (s.mixup ? `, mixup ${s.mixup}` : '');
  for (const arm of studentArms(s)) {
    const folder = studentFolder(s, arm), dir = path.join(s.out, folder);
    const bundle = train(dir, (db) => studentProject(s, db, path.relative(dir, teacher), arm), `the student from ${teacherName}, ${arm.epochs} epochs, alpha ${arm.alpha}, seed ${arm.seed}`, studentDb);
    const seed = s.studentSeeds.length > 1 ? `, seed ${arm.seed}` : '';
    const row = scoreBundle(s, `distilled student (from ${teacherName}), ${arm.epochs} epochs${variant}, alpha ${arm.alpha}${seed}`, folder, bundle, tests);
    rows.push(row);
    students.set(`${arm.epochs}/${arm.alpha}/${arm.seed}`, row);
    if (ensembleRow && seed) notes.push(retentionNote(row, alone.get(`${arm.epochs}/${arm.seed}`)!, ensembleRow, sets));
  }
  // over several seeds, the students' mean against their baselines' mean: one seed's luck is a point of mAP
  const seeds = s.studentSeeds.join(', ');
  const pooled = (name: string, of: readonly Row[]): Row => {
    if (of.length === 1) return of[0]!;
    const row = meanRow(name, of, sets);
    rows.push(row);
    return row;
  };
  for (const epochs of s.studentEpochs) {
    const baselines = s.studentSeeds.map((seed) => alone.get(`${epochs}/${seed}`)!);
    const baseline = pooled(`members trained alone, ${epochs} epochs (mean of seeds ${seeds})`, baselines);
    // on the members' schedule the members are trained alone too: every run without a teacher is a baseline
    const everyone = epochs === s.epochs ? pooled(`every member trained alone, ${epochs} epochs (members and seeds ${seeds})`, [...memberRows, ...baselines]) : undefined;
    for (const alpha of s.alphas) {
      const student = pooled(`distilled students (from ${teacherName}), ${epochs} epochs${variant}, alpha ${alpha} (mean of seeds ${seeds})`, s.studentSeeds.map((seed) => students.get(`${epochs}/${alpha}/${seed}`)!));
      // against its own schedule's baseline (the target's), against the members' (which it outspends when longer), and against both pooled
      if (ensembleRow) for (const b of [baseline, membersMean, ...(everyone ? [everyone] : [])]) notes.push(retentionNote(student, b, ensembleRow, sets));
    }
  }
  notes.push(`the students: ${s.model} at ${s.size} px, seed${s.studentSeeds.length > 1 ? 's' : ''} ${seeds}, distilled from ${teacherName} at temperature ${s.temperature}; a member trains ${s.epochs} epochs`);

  const images = imagesOf(tests.get('plain') ?? [...tests.values()][0]!, s.latencyImages);
  const timed: Row[] = [], ms = new Map<string, number>();
  // one bundle at a time, each once (the best member is a member): concurrent runs would time each other
  for (const row of rows) {
    if (row.bundle && !ms.has(row.bundle)) ms.set(row.bundle, await latency(path.join(s.out, row.bundle), images));
    timed.push(row.bundle ? { ...row, msPerImage: ms.get(row.bundle)! } : row);
  }
  notes.push(`latency: \`tag\` on ${images.length} images of ${tests.has('plain') ? 'the plain set' : 'the first set'}, one thread, batch 8, decode included, median of 3 passes after a warm-up; relative to member 1 in this run`);

  const results: EnsembleResults = { settings: { ...s, sets: s.sets.map((t) => t.name) }, sets, rows: timed, notes };
  const md = markdownTables(results);
  fs.writeFileSync(path.join(s.out, 'results.json'), `${JSON.stringify(results, null, 1)}\n`);
  fs.writeFileSync(path.join(s.out, 'results.md'), md);
  process.stdout.write(md);
}

await main(process.argv.slice(2));
