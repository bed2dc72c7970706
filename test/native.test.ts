/**
 * A native package that does not load says what failed and what to run. Simulated without touching
 * node_modules: the loaders take the module to load, here one whose native binary is not a shared library
 * (what a build for another platform, or an interrupted download, looks like to the dynamic loader) and one
 * that is not there at all (a build skipped at install).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TagbooruError } from '../src/errors.ts';
import { importNative, requireNative } from '../src/native.ts';

let dir: string, broken: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-native-'));
  await fs.writeFile(path.join(dir, 'binding.node'), 'not a shared library\n'.repeat(64));
  broken = path.join(dir, 'broken.cjs');
  await fs.writeFile(broken, "module.exports = require('./binding.node');\n");
});

afterAll(() => fs.rm(dir, { recursive: true, force: true }));

async function failure(load: () => unknown): Promise<TagbooruError> {
  try {
    await load();
  } catch (e) {
    if (e instanceof TagbooruError) return e;
    throw e;
  }
  throw new Error('expected the load to fail');
}

describe('a binary the dynamic loader refuses', () => {
  test('better-sqlite3: rebuild it, with a toolchain and the Node headers', async () => {
    const e = await failure(() => requireNative('better-sqlite3', broken));
    expect(e.code).toBe('E_INTERNAL');
    expect(e.message).toMatch(/^better-sqlite3 failed to load \(.*binding\.node: invalid ELF header\)/);
    expect(e.message).toContain('`npm_config_nodedir=/usr npm rebuild better-sqlite3`');
    expect(e.message).toContain('apt-get install build-essential python3');
  });

  test('sharp: install the build for this platform', async () => {
    const e = await failure(() => importNative('sharp', pathToFileURL(broken).href));
    expect(e.message).toMatch(/^sharp failed to load \(.*invalid ELF header\)/);
    expect(e.message).toContain(`npm install --include=optional --os=${process.platform} --cpu=${process.arch} sharp`);
  });

  test('onnxruntime-node: the platforms it ships for, and how to reinstall', async () => {
    const e = await failure(() => importNative('onnxruntime-node', pathToFileURL(broken).href));
    expect(e.message).toMatch(/^onnxruntime-node failed to load \(.*invalid ELF header\)/);
    expect(e.message).toContain(`(this machine: ${process.platform}-${process.arch})`);
    expect(e.message).toContain('`ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node`');
  });
});

test('a package that is not installed names what is missing', async () => {
  const e = await failure(() => requireNative('better-sqlite3', path.join(dir, 'absent')));
  expect(e.message).toMatch(/^better-sqlite3 failed to load \(Cannot find module '.*absent'/);
  const i = await failure(() => importNative('sharp', pathToFileURL(path.join(dir, 'absent.mjs')).href));
  expect(i.message).toMatch(/^sharp failed to load \(Cannot find module '.*absent\.mjs'/);
});

test('the installed packages load through the same loaders', async () => {
  expect(typeof requireNative<unknown>('better-sqlite3')).toBe('function');
  expect(typeof (await importNative<{ default: unknown }>('sharp')).default).toBe('function');
  expect(typeof (await importNative<{ InferenceSession: unknown }>('onnxruntime-node')).InferenceSession).toBe('function');
});
