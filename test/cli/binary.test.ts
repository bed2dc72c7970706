import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';

const run = promisify(execFile);

test('`tagbooru --help` works through the package binary and documents the exit statuses', async () => {
  const { stdout } = await run(process.execPath, ['bin/tagbooru.js', '--help']);
  expect(stdout).toMatch(/Usage: tagbooru <command>/);
  expect(stdout).toMatch(/Exit status: 0 .*1 .*2 usage error/);
  for (const c of ['tag', 'evaluate', 'init-model']) expect(stdout).toContain(c);
});

test('a usage error exits 2 from the real process', async () => {
  await expect(run(process.execPath, ['bin/tagbooru.js', 'tag', 'x.png', '--batch-size', '-3'])).rejects.toMatchObject({ code: 2 });
});

test('every row of the command table loads the command it names', async () => {
  const { COMMANDS } = await import('../../src/cli/main.ts');
  for (const entry of COMMANDS) {
    const command = await entry.load();
    expect(command.name).toBe(entry.name);
    expect(command.usage.startsWith(entry.name)).toBe(true);
  }
});

test('a reader that closes the pipe early ends the CLI quietly with 141, not a stack trace', async () => {
  // `tagbooru tag samples/ | head -1`: the shell's pipe, so stdout really is closed under the writer
  const { stdout, stderr } = await run('bash', ['-c', 'node bin/tagbooru.js tag samples/ samples/ samples/ | head -1; echo "status ${PIPESTATUS[0]}" >&2']);
  expect(stdout.split('\n').filter(Boolean)).toHaveLength(1);
  expect(stderr).not.toMatch(/EPIPE|node:events|Unhandled/);
  expect(stderr).toContain('status 141');
});

test('an error names its command once', async () => {
  await expect(run(process.execPath, ['bin/tagbooru.js', 'tag', '--bogus'])).rejects.toMatchObject({ code: 2, stderr: "tagbooru tag: Unknown option '--bogus'. See `tagbooru tag --help`.\n" });
});
