/**
 * Rotating checkpoints: each is a complete folder `step-<n>` written before a `latest` pointer file is
 * renamed over the old one, so a kill at any moment leaves the previous checkpoint intact. The last three
 * are kept, as DeepDanbooru's CheckpointManager keeps three.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeAtomic } from '../atomic-files.ts';
import type { Trainer } from './trainer.ts';

const KEEP = 3;
const POINTER = 'latest';

export async function saveRotating(trainer: Trainer, root: string, extra: Record<string, unknown>): Promise<string> {
  const { step } = await trainer.counters();
  const name = `step-${String(step).padStart(9, '0')}`;
  const dir = path.join(root, name);
  await fs.rm(dir, { recursive: true, force: true });
  await trainer.saveCheckpoint(dir, extra);
  await writeAtomic(path.join(root, POINTER), `${name}\n`);
  const old = (await fs.readdir(root)).filter((n) => /^step-\d+$/.test(n)).sort().slice(0, -KEEP);
  for (const n of old) await fs.rm(path.join(root, n), { recursive: true, force: true });
  return dir;
}

/** The folder `latest` points at, or null when there is no complete checkpoint. */
export async function latestCheckpoint(root: string): Promise<string | null> {
  const name = (await fs.readFile(path.join(root, POINTER), 'utf8').catch(() => ''))?.trim();
  if (!name) return null;
  const dir = path.join(root, name);
  return (await fs.stat(path.join(dir, 'checkpoint.json')).catch(() => null)) ? dir : null;
}
