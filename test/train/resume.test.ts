import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from 'vitest';
import { listCheckpoints } from '../../src/train/checkpoints.ts';
import { decodeSafetensors } from '../../src/formats/safetensors.ts';

const SCRIPT = path.join(import.meta.dirname, '_resumable.ts');

function start(dir: string, out: string) {
  return spawn(process.execPath, ['--import', 'tsx', SCRIPT, dir, out], { stdio: ['ignore', 'ignore', 'pipe'] });
}

function finished(child: ReturnType<typeof start>): Promise<number | null> {
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => child.on('exit', (code) => (code === 0 || code === null ? resolve(code) : reject(new Error(`exit ${code}: ${err}`)))));
}

async function stepOf(dir: string): Promise<number> {
  return (await listCheckpoints(path.join(dir, 'checkpoints')))[0]?.step ?? 0;
}

test('a run killed with SIGKILL resumes to exactly the weights of an uninterrupted run', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-resume-'));
  try {
    const whole = path.join(root, 'whole'), cut = path.join(root, 'cut');
    await fs.mkdir(whole);
    await fs.mkdir(cut);
    await finished(start(whole, path.join(root, 'a.safetensors')));

    const victim = start(cut, path.join(root, 'unused'));
    const exit = finished(victim);
    // kill between checkpoints, well into the second epoch (36 steps in all)
    while ((await stepOf(cut)) < 16) await new Promise((r) => setTimeout(r, 10));
    victim.kill('SIGKILL');
    expect(await exit).toBeNull();
    const killedAt = await stepOf(cut);
    expect(killedAt).toBeLessThan(36);
    await finished(start(cut, path.join(root, 'b.safetensors')));

    const a = decodeSafetensors(await fs.readFile(path.join(root, 'a.safetensors'))).tensors;
    const b = decodeSafetensors(await fs.readFile(path.join(root, 'b.safetensors'))).tensors;
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, t] of a) expect(Buffer.from(b.get(k)!.data.buffer).equals(Buffer.from(t.data.buffer)), k).toBe(true);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}, 120_000);
