/**
 * Checkpoints as a power cut, a full disk, a bad sector or a careless operator leave them: each damaged save is
 * rejected by name and the newest valid one resumed; saves are ordered by number, not by step.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { TagbooruError } from '../../src/errors.ts';
import { listCheckpoints, resumeTraining, saveRotating } from '../../src/train/checkpoints.ts';
import { runTrainingLoop } from '../../src/train/loop.ts';
import { decodeSafetensors, encodeSafetensors } from '../../src/formats/safetensors.ts';
import { createTrainer, type Trainer } from '../../src/train/trainer.ts';
import { SHAPE_TAGS, shapesData } from '../helpers/shapes.ts';

const SIZE = 16;
const NEWEST = 'step-000000006-save-000003', OLDER = 'step-000000004-save-000002';
let trainer: Trainer;
let scratch: string, template: string;

beforeAll(async () => {
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-checkpoints-'));
  template = path.join(scratch, 'template');
  trainer = await createTrainer({ model: 'test_tiny', tags: SHAPE_TAGS.length, imageSize: [SIZE, SIZE], batchSize: 4, optimizer: { name: 'adam' }, loss: 'binary_crossentropy', seed: 5, threads: 1 });
  // saves 1, 2, 3 at steps 2, 4, 6
  await runTrainingLoop({
    trainer, data: shapesData(SIZE, 24, 7), epochs: 2, batchSize: 4, sampleSize: SIZE * SIZE * 3, tags: SHAPE_TAGS.length, seed: 11,
    learningRate: () => 1e-3, checkpointEvery: 2, maxSteps: 6, checkpoint: async (position) => void (await saveRotating(trainer, template, { position })),
  });
}, 60_000);

afterAll(async () => {
  await trainer?.close();
  await fs.rm(scratch, { recursive: true, force: true });
});

let copies = 0;
async function copyOfTemplate(): Promise<string> {
  const root = path.join(scratch, `run${copies++}`);
  await fs.cp(template, root, { recursive: true });
  return root;
}

async function resume(root: string, options: { restart?: boolean } = {}) {
  const lines: string[] = [];
  const resumed = await resumeTraining(trainer, root, { ...options, log: (l) => lines.push(l) });
  return { resumed, log: lines.join('\n'), step: (await trainer.counters()).step };
}

/** Rewrites a checkpoint's tensors with valid checksums throughout, as a bug upstream of the writer would. */
async function rewriteState(dir: string, change: (tensors: Map<string, { data: Float32Array; shape: readonly number[] }>) => void): Promise<void> {
  const file = path.join(dir, 'state.safetensors'), metaFile = path.join(dir, 'checkpoint.json');
  const { tensors, metadata } = decodeSafetensors(await fs.readFile(file));
  change(tensors);
  const bytes = encodeSafetensors(tensors, { format: metadata.format! });
  await fs.writeFile(file, bytes);
  const { sha256: _, ...meta } = JSON.parse(await fs.readFile(metaFile, 'utf8')) as { sha256: string; state: { bytes: number; sha256: string } };
  meta.state = { bytes: bytes.length, sha256: sha256(bytes) };
  await fs.writeFile(metaFile, JSON.stringify({ ...meta, sha256: sha256(JSON.stringify(meta)) }));
}

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

async function flipByte(file: string, fromEnd: number): Promise<void> {
  const bytes = await fs.readFile(file);
  bytes[bytes.length - fromEnd]! ^= 0x10;
  await fs.writeFile(file, bytes);
}

async function headerLength(file: string): Promise<number> {
  return 8 + Number((await fs.readFile(file)).readBigUInt64LE(0));
}

const DAMAGE: { name: string; file: string; reason: RegExp; damage: (dir: string) => Promise<void> }[] = [
  { name: 'checkpoint.json missing', file: 'checkpoint.json', reason: /: missing/, damage: (d) => fs.rm(path.join(d, 'checkpoint.json')) },
  { name: 'checkpoint.json unparsable', file: 'checkpoint.json', reason: /not valid JSON/, damage: (d) => fs.writeFile(path.join(d, 'checkpoint.json'), '{"format": "tagbooru-checkpoint", "coun') },
  {
    name: 'a changed position in checkpoint.json', file: 'checkpoint.json', reason: /checksum mismatch: its content hashes to sha256 \w+, its "sha256" records \w+/,
    damage: async (d) => {
      const meta = JSON.parse(await fs.readFile(path.join(d, 'checkpoint.json'), 'utf8')) as { extra: { position: { offset: number } } };
      meta.extra.position.offset = 20;
      await fs.writeFile(path.join(d, 'checkpoint.json'), JSON.stringify(meta, null, 1));
    },
  },
  { name: 'state truncated', file: 'state.safetensors', reason: /truncated: \d+ bytes where checkpoint\.json records \d+/, damage: (d) => fs.truncate(path.join(d, 'state.safetensors'), 3000) },
  { name: 'state missing', file: 'state.safetensors', reason: /: missing/, damage: (d) => fs.rm(path.join(d, 'state.safetensors')) },
  { name: 'a flipped bit in the data', file: 'state.safetensors', reason: /checksum mismatch/, damage: (d) => flipByte(path.join(d, 'state.safetensors'), 10) },
  {
    name: 'a flipped bit in the header', file: 'state.safetensors', reason: /checksum mismatch/,
    damage: async (d) => {
      const file = path.join(d, 'state.safetensors');
      await flipByte(file, (await fs.stat(file)).size - (await headerLength(file)) + 20);
    },
  },
  { name: 'NaN weights under valid checksums', file: 'state.safetensors', reason: /\/beta\[1\] is NaN; a checkpoint holds only finite values/, damage: (d) => rewriteState(d, (t) => void ([...t.values()][0]!.data[1] = NaN)) },
  { name: 'an infinite optimizer slot under valid checksums', file: 'state.safetensors', reason: /#\w+\[0\] is Infinity/, damage: (d) => rewriteState(d, (t) => void ([...t].find(([k]) => k.includes('#'))![1].data[0] = Infinity)) },
];

test.each(DAMAGE)('$name in the newest checkpoint: rejected by name, and the next older resumed', async ({ file, reason, damage }) => {
  const root = await copyOfTemplate();
  await damage(path.join(root, NEWEST));
  const { resumed, log, step } = await resume(root);
  expect(resumed?.checkpoint.name).toBe(OLDER);
  expect(step).toBe(4);
  expect(resumed?.extra.position).toEqual({ epoch: 0, offset: 16, skipped: 0 });
  expect(log).toContain(`checkpoint rejected: ${path.join(root, NEWEST, file)}: `);
  expect(log).toMatch(reason);
  expect(log).toContain(`falling back to ${OLDER} (step 4)`);
});

test('the newest checkpoint is resumed whatever `latest` says, or without it', async () => {
  const root = await copyOfTemplate();
  await fs.writeFile(path.join(root, 'latest'), 'step-000000099-save-000009\n'); // dangling
  expect((await resume(root)).step).toBe(6);
  await fs.rm(path.join(root, 'latest'));
  expect((await resume(root)).resumed?.checkpoint.name).toBe(NEWEST);
});

test('checkpoints none of which loads stop the run with E_IO naming each file and --restart, not a start from step 0', async () => {
  const root = await copyOfTemplate();
  const damage = (name: string, dir: string) => DAMAGE.find((d) => d.name === name)!.damage(path.join(root, dir));
  await damage('checkpoint.json missing', NEWEST);
  await damage('state truncated', OLDER);
  await damage('checkpoint.json unparsable', 'step-000000002-save-000001');
  const before = (await trainer.counters()).step;
  const failure = await resume(root).then(() => null, (e: TagbooruError) => e);
  expect(failure?.code).toBe('E_IO');
  const message = failure!.message;
  expect(message).toContain(`none of the 3 checkpoints in ${root} can be resumed`);
  expect(message).toContain(`${path.join(root, NEWEST, 'checkpoint.json')}: missing`);
  expect(message).toContain(`${path.join(root, OLDER, 'state.safetensors')}: truncated`);
  expect(message).toMatch(/step-000000002-save-000001\/checkpoint\.json: not valid JSON/);
  expect(message).toContain('--restart');
  expect((await trainer.counters()).step).toBe(before); // rejected checkpoints change nothing
  expect((await listCheckpoints(root)).map((c) => c.name)).toEqual([NEWEST, OLDER, 'step-000000002-save-000001']);
});

test('rotation keeps the newest saves, not the highest steps: a save below older steps survives', async () => {
  const root = await copyOfTemplate();
  for (const c of await listCheckpoints(root)) await fs.rename(c.dir, path.join(root, `step-${String(c.step * 100).padStart(9, '0')}-save-${String(c.save).padStart(6, '0')}`));
  await trainer.loadCheckpoint(path.join(template, 'step-000000002-save-000001'));
  const written = await saveRotating(trainer, root, { position: { epoch: 0, offset: 8, skipped: 0 } });
  expect(path.basename(written)).toBe('step-000000002-save-000004');
  expect((await listCheckpoints(root)).map((c) => c.name)).toEqual(['step-000000002-save-000004', 'step-000000600-save-000003', 'step-000000400-save-000002']);
  expect(await fs.readFile(path.join(root, 'latest'), 'utf8')).toBe('step-000000002-save-000004\n');
  const { resumed, step } = await resume(root);
  expect(resumed?.checkpoint.name).toBe('step-000000002-save-000004');
  expect(step).toBe(2);
});

test('restart archives the checkpoints, and the next run resumes the new saves', async () => {
  const root = await copyOfTemplate();
  const restarted = await resume(root, { restart: true });
  expect(restarted.resumed).toBeNull();
  const archive = /moved the previous run's checkpoints to (\S+)$/.exec(restarted.log)?.[1];
  expect(path.dirname(archive!)).toBe(root);
  expect((await fs.readdir(archive!)).sort()).toEqual(['latest', 'step-000000002-save-000001', OLDER, NEWEST]);
  expect(await listCheckpoints(root)).toEqual([]);

  await trainer.loadCheckpoint(path.join(template, 'step-000000002-save-000001')); // stands in for a fresh start's first steps
  await saveRotating(trainer, root, { position: { epoch: 0, offset: 8, skipped: 0 } });
  const { resumed, step } = await resume(root);
  expect(resumed?.checkpoint.name).toBe('step-000000002-save-000001');
  expect(step).toBe(2);
});

test('a checkpoint from before digests and save numbers still resumes, and ranks below every numbered save', async () => {
  const root = await copyOfTemplate();
  for (const c of await listCheckpoints(root)) if (c.name !== NEWEST) await fs.rm(c.dir, { recursive: true });
  const legacy = path.join(root, 'step-000000006');
  await fs.rename(path.join(root, NEWEST), legacy);
  const { sha256: _, state: __, sequence: ___, ...meta } = JSON.parse(await fs.readFile(path.join(legacy, 'checkpoint.json'), 'utf8')) as Record<string, unknown>;
  await fs.writeFile(path.join(legacy, 'checkpoint.json'), JSON.stringify({ ...meta, version: 1 }));
  expect((await resume(root)).resumed?.checkpoint.name).toBe('step-000000006');
  expect(path.basename(await saveRotating(trainer, root, { position: { epoch: 1, offset: 0, skipped: 0 } }))).toBe('step-000000006-save-000001');
  expect((await listCheckpoints(root)).map((c) => c.name)).toEqual(['step-000000006-save-000001', 'step-000000006']);
});

test('temporaries of dead writers are removed on start; a live writer\'s are left alone', async () => {
  const root = await copyOfTemplate();
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  await fs.writeFile(path.join(root, `latest.tmp-${dead}`), 'step-000000008-save-000004\n');
  await fs.mkdir(path.join(root, `step-000000008-save-000004.tmp-${dead}`));
  await fs.writeFile(path.join(root, `step-000000008-save-000004.tmp-${dead}`, 'state.safetensors'), 'half');
  await fs.writeFile(path.join(root, `latest.tmp-${process.ppid}`), 'a live writer');
  const { log, step } = await resume(root);
  expect(step).toBe(6);
  expect(log).toContain(`latest.tmp-${dead}`);
  expect((await fs.readdir(root)).sort()).toEqual([`latest`, `latest.tmp-${process.ppid}`, 'step-000000002-save-000001', OLDER, NEWEST]);
});

test('safetensors record the sha256 of their data, and a flipped bit fails to decode', () => {
  const bytes = encodeSafetensors(new Map([['w', { data: Float32Array.of(1, 2, 3), shape: [3] }]]), { format: 'x' });
  expect(decodeSafetensors(bytes).metadata.sha256).toBe(sha256(new Uint8Array(Float32Array.of(1, 2, 3).buffer)));
  bytes[bytes.length - 2]! ^= 1;
  expect(() => decodeSafetensors(bytes, 'w.safetensors')).toThrow(/^w\.safetensors: checksum mismatch/);
});
