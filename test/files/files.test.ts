import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { removeStaleTemps, writeAtomic, writeFilesAtomic } from '../../src/atomic-files.ts';
import { readRegularFile } from '../../src/regular-files.ts';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-files-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('readRegularFile', () => {
  it('reads regular files and symlinks to them; refuses devices and folders with a reason, not a hang', async () => {
    await fs.writeFile(path.join(dir, 'a.txt'), 'hello');
    await fs.symlink(path.join(dir, 'a.txt'), path.join(dir, 'link.txt'));
    expect((await readRegularFile(path.join(dir, 'link.txt'))).toString()).toBe('hello');
    await expect(readRegularFile('/dev/zero')).rejects.toMatchObject({ code: 'E_IO', message: 'not a regular file (a device)' });
    await expect(readRegularFile(dir)).rejects.toMatchObject({ code: 'E_IO', message: 'is a directory, not a file' });
    await expect(readRegularFile(path.join(dir, 'none.png'))).rejects.toMatchObject({ code: 'E_IO', message: 'file not found' });
  });
});

describe('writeAtomic', () => {
  const listing = async () => (await fs.readdir(dir)).sort();

  it('replaces the contents, keeps the mode, writes through a symlink to its target', async () => {
    const file = path.join(dir, 'caption.txt');
    await fs.writeFile(file, 'old');
    await fs.chmod(file, 0o640);
    await writeAtomic(file, 'new');
    expect(await fs.readFile(file, 'utf8')).toBe('new');
    expect((await fs.stat(file)).mode & 0o777).toBe(0o640);
    await fs.symlink(file, path.join(dir, 'alias.txt'));
    await writeAtomic(path.join(dir, 'alias.txt'), 'via link');
    expect((await fs.lstat(path.join(dir, 'alias.txt'))).isSymbolicLink()).toBe(true);
    expect(await fs.readFile(file, 'utf8')).toBe('via link');
  });

  it('a failed write or rename leaves the old file and no temporary file behind', async () => {
    const before = await listing();
    // the rename fails: the target is a non-empty folder
    await fs.mkdir(path.join(dir, 'taken.txt'));
    await fs.writeFile(path.join(dir, 'taken.txt', 'x'), '');
    await expect(writeAtomic(path.join(dir, 'taken.txt'), 'data', { syncFolder: true })).rejects.toThrow();
    // the second of two files cannot be staged (no such folder): the first is not replaced either
    await fs.writeFile(path.join(dir, 'first.txt'), 'first');
    await expect(writeFilesAtomic([[path.join(dir, 'first.txt'), 'changed'], [path.join(dir, 'missing', 'second.txt'), 'x']])).rejects.toThrow();
    expect(await fs.readFile(path.join(dir, 'first.txt'), 'utf8')).toBe('first');
    expect(await listing()).toEqual([...before, 'first.txt', 'taken.txt'].sort());
  });

  it('a killed writer\'s hidden temporary is found by removeStaleTemps; a live writer\'s is kept', async () => {
    const sub = path.join(dir, 'stale');
    await fs.mkdir(sub);
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    await fs.writeFile(path.join(sub, `.x.txt.tmp-${dead}-0123abcd`), 'half');
    await fs.writeFile(path.join(sub, `.x.txt.tmp-${process.ppid}-0123abcd`), 'in progress');
    expect(await removeStaleTemps(sub)).toEqual([`.x.txt.tmp-${dead}-0123abcd`]);
    expect(await fs.readdir(sub)).toEqual([`.x.txt.tmp-${process.ppid}-0123abcd`]);
  });
});
