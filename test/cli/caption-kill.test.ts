/**
 * `tag --save-txt` killed while it rewrites captions: every caption must hold its old text or its new text,
 * whole. The real binary and the bundled default model, SIGKILLed at random moments after the first result
 * line (the caption phase), a bounded number of times.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { noiseImage } from '../helpers/images.ts';

const IMAGES = 24, MAX_KILLS = 15, BUDGET_MS = 50_000;
// one batch: every caption is written in one burst after a single inference, so the kills land among the writes
const ARGS = ['--save-txt', '--existing', 'append', '-t', '0', '-k', '6', '-b', '32', '-f', 'jsonl'];

let dir: string;
const names = Array.from({ length: IMAGES }, (_, i) => `img${i}`);
// long old captions (few tags, cheap to merge) widen the window a truncating rewrite leaves open
const oldCaption = (name: string) => `${Array.from({ length: 40 }, (_, j) => `${name}_old_${j}_${'x'.repeat(15_000)}`).join(', ')}\n`;

async function resetCaptions(): Promise<void> {
  for (const e of await fs.readdir(dir)) if (e.startsWith('.')) await fs.rm(path.join(dir, e));
  await Promise.all(names.map((n) => fs.writeFile(path.join(dir, `${n}.txt`), oldCaption(n))));
}

async function readCaptions(): Promise<Map<string, string>> {
  return new Map(await Promise.all(names.map(async (n) => [n, await fs.readFile(path.join(dir, `${n}.txt`), 'utf8')] as const)));
}

/** Run `tag` over the folder; with `killAfterMs`, SIGKILL it that long after its first result line. */
function runTag(killAfterMs?: number): Promise<{ code: number | null; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/tagbooru.js', 'tag', dir, ...ARGS], { stdio: ['ignore', 'pipe', 'pipe'] });
    let armed = false;
    child.stdout.on('data', () => {
      if (killAfterMs === undefined || armed) return;
      armed = true;
      setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, killed: signal === 'SIGKILL' }));
  });
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-kill-'));
  await Promise.all(names.map((n, i) => noiseImage(path.join(dir, `${n}.png`), 48, 40, i + 1)));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

test('a SIGKILL during caption writing leaves each caption old or new, never empty or partial', { timeout: 120_000 }, async () => {
  await resetCaptions();
  expect((await runTag()).code).toBe(0);
  const fresh = await readCaptions();
  for (const n of names) expect(fresh.get(n)!.startsWith(oldCaption(n).trimEnd() + ', ')).toBe(true);

  const started = Date.now();
  let kills = 0, torn = 0, mixed = 0;
  while (kills < MAX_KILLS && Date.now() - started < BUDGET_MS) {
    await resetCaptions();
    const { killed } = await runTag(Math.floor(Math.random() * 60));
    if (!killed) continue; // finished first: nothing to check
    kills++;
    const now = await readCaptions();
    let rewritten = 0;
    for (const n of names) {
      const text = now.get(n)!;
      if (text !== oldCaption(n) && text !== fresh.get(n)) torn++;
      if (text === fresh.get(n)) rewritten++;
    }
    if (rewritten > 0 && rewritten < IMAGES) mixed++;
    // what a kill may leave besides captions: hidden temporary files only
    const visible = (await fs.readdir(dir)).filter((e) => !e.startsWith('.') && !/\.(png|txt)$/.test(e));
    expect(visible).toEqual([]);
  }
  expect(torn, `${torn} captions neither old nor new after ${kills} kills`).toBe(0);
  expect(kills).toBeGreaterThanOrEqual(3);
  // the kills landed among the writes, not only before or after them
  expect(mixed).toBeGreaterThan(0);
});
