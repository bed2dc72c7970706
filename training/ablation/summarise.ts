/**
 * The tables over every training seed an ablation folder holds (results.json, results-seed<n>.json): each cell
 * the mean ± standard deviation over seeds, so a difference between arms can be read against the seeds' spread;
 * then each arm's training wall time per seed.
 *   node --import tsx training/ablation/summarise.ts <out>
 */
import fs from 'node:fs';
import path from 'node:path';
import { TagbooruError } from '../../src/errors.ts';
import { markdownTables, resultFiles, trainTimes, type Results } from './report.ts';

const [out] = process.argv.slice(2);
if (!out) throw new TagbooruError('E_USAGE', 'Usage: node --import tsx training/ablation/summarise.ts <out>');
const files = resultFiles(fs.readdirSync(out));
if (files.length === 0) throw new TagbooruError('E_USAGE', `${out} holds no results.json: run training/ablation/run.ts first`);
const runs = files.map((f) => JSON.parse(fs.readFileSync(path.join(out, f), 'utf8')) as Results);
process.stdout.write(`${runs.length} training seed(s): ${files.join(', ')}\n\n${markdownTables(runs)}\ntraining wall time per arm (${files.join(' / ')}): ${trainTimes(runs)}\n`);
