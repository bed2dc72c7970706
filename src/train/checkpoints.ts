/**
 * A run's checkpoints: folders `step-<step>-save-<n>` in `checkpoints/`, n counting the saves made there
 * (1, 2, …). The save number, not the step, says which is newest: a run that starts over, or resumes from an
 * older checkpoint, saves lower steps than those before it. The newest three saves are kept, as DeepDanbooru's
 * CheckpointManager keeps three. `latest` names the newest for people and scripts; resuming scans the folder
 * and verifies what it loads (checkpoint-file.ts), so a dangling pointer or a damaged save costs only that save.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { removeStaleTemps, syncDir, writeAtomic } from '../atomic-files.ts';
import { TagbooruError } from '../errors.ts';
import type { Trainer } from './trainer.ts';

const KEEP = 3;
const POINTER = 'latest';
// a bare `step-<n>` was written before saves were numbered: older than any numbered one
const NAME = /^step-(\d+)(?:-save-(\d+))?$/;

export interface SavedCheckpoint {
  readonly dir: string;
  readonly name: string;
  readonly step: number;
  readonly save: number;
}

/** The checkpoint folders in `root`, newest save first, valid or not: only reading one tells. */
export async function listCheckpoints(root: string): Promise<SavedCheckpoint[]> {
  const names = await fs.readdir(root).catch(() => [] as string[]);
  const found = names.flatMap((name) => {
    const m = NAME.exec(name);
    return m ? [{ dir: path.join(root, name), name, step: Number(m[1]), save: Number(m[2] ?? 0) }] : [];
  });
  return found.sort((a, b) => b.save - a.save || b.step - a.step);
}

export async function saveRotating(trainer: Trainer, root: string, extra: Record<string, unknown>): Promise<string> {
  const { step } = await trainer.counters();
  const save = ((await listCheckpoints(root))[0]?.save ?? 0) + 1;
  const name = `step-${String(step).padStart(9, '0')}-save-${String(save).padStart(6, '0')}`;
  const dir = path.join(root, name);
  await trainer.saveCheckpoint(dir, extra, save);
  await writeAtomic(path.join(root, POINTER), `${name}\n`);
  // the save just written has the highest number, so it is never among these
  for (const old of (await listCheckpoints(root)).slice(KEEP)) await fs.rm(old.dir, { recursive: true, force: true });
  return dir;
}

/** Moves every checkpoint (and `latest`) into a new `archive-<time>-<random>` folder in `root`; null when there was none. */
export async function archiveCheckpoints(root: string): Promise<string | null> {
  const saved = await listCheckpoints(root);
  if (saved.length === 0) return null;
  const archive = await fs.mkdtemp(path.join(root, `archive-${new Date().toISOString().replace(/[:.]/g, '-')}-`));
  for (const c of saved) await fs.rename(c.dir, path.join(archive, c.name));
  await fs.rename(path.join(root, POINTER), path.join(archive, POINTER)).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
  await syncDir(archive);
  await syncDir(root);
  return archive;
}

export interface ResumeOptions {
  /** Archive the checkpoints and start from step 0 instead of resuming. */
  readonly restart?: boolean;
  readonly log: (line: string) => void;
}

export interface Resumed {
  readonly checkpoint: SavedCheckpoint;
  /** What the run saved with it (`saveRotating`'s `extra`). */
  readonly extra: Record<string, unknown>;
}

/**
 * Readies `root` for a run and loads its newest valid checkpoint into `trainer`. Leftovers of interrupted saves
 * are removed; a damaged checkpoint is reported and the next older one tried. Null means the run starts at step
 * 0: with `restart`, or when there are no checkpoints. When there are some and none loads, that is an error,
 * never a silent start from 0 that the next rotation would make permanent.
 */
export async function resumeTraining(trainer: Trainer, root: string, o: ResumeOptions): Promise<Resumed | null> {
  const stale = await removeStaleTemps(root);
  if (stale.length > 0) o.log(`removed ${stale.map((n) => path.join(root, n)).join(', ')}, left by an interrupted save`);
  if (o.restart) {
    const archive = await archiveCheckpoints(root);
    if (archive) o.log(`restart: moved the previous run's checkpoints to ${archive}`);
    return null;
  }
  const saved = await listCheckpoints(root);
  const reasons: string[] = [];
  for (const [k, checkpoint] of saved.entries()) {
    try {
      const extra = await trainer.loadCheckpoint(checkpoint.dir);
      if (k > 0) o.log(`falling back to ${checkpoint.name} (step ${checkpoint.step}), the newest valid checkpoint`);
      return { checkpoint, extra };
    } catch (e) {
      if (!(e instanceof TagbooruError && e.code === 'E_IO')) throw e;
      reasons.push(e.message);
      o.log(`warning: checkpoint rejected: ${e.message}`);
    }
  }
  if (saved.length > 0) {
    throw new TagbooruError('E_IO', `none of the ${saved.length} checkpoints in ${root} can be resumed (${reasons.join('; ')}). ` +
      `Rather than start again from step 0, training stops: restore a checkpoint, or run train-project with --restart to move these to ${path.join(root, 'archive-<time>')} and start over`);
  }
  return null;
}
