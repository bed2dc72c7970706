/**
 * The lint rule that keeps codes: in src/ a plain Error (which a user would see as E_INTERNAL) fails the lint;
 * a TagbooruError, or an InvariantError for a bug, passes. The rule comes from the project's eslint.config.js as
 * ESLint resolves it for each file; only that rule runs, as the type-aware rest takes seconds to start.
 */
import { ESLint, Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, test } from 'vitest';

const eslint = new ESLint({ cwd: process.cwd() });
const linter = new Linter({ configType: 'flat' });

/** no-restricted-syntax findings for `code` as if it were the file at `filePath`. */
async function findings(code: string, filePath: string): Promise<string[]> {
  const resolved = (await eslint.calculateConfigForFile(filePath)) as Linter.Config;
  const rule = resolved.rules?.['no-restricted-syntax'];
  if (rule === undefined) return [];
  const only: Linter.Config = { languageOptions: { parser: tseslint.parser, sourceType: 'module' }, rules: { 'no-restricted-syntax': rule } };
  return linter.verify(code, only).map((m) => (m.fatal ? `fatal: ${m.message}` : m.message));
}

describe('plain errors in src/', () => {
  test.each([
    ["throw new Error('x');"],
    ["throw new RangeError('x');"],
    ["throw TypeError('x');"],
    ["return Promise.reject(new Error('x'));"],
  ])('%s fails the lint', async (code) => {
    expect(await findings(`export function f() { ${code} }`, 'src/_probe.ts')).toEqual([
      'Throw a TagbooruError with a code (src/errors.ts); use InvariantError only for a broken internal invariant.',
    ]);
  });

  test.each([
    ["throw new TagbooruError('E_USAGE', 'x');"],
    ["throw new InvariantError('x');"],
  ])('%s passes', async (code) => {
    expect(await findings(`import { InvariantError, TagbooruError } from './errors.ts';\nexport function f() { ${code} }`, 'src/_probe.ts')).toEqual([]);
  });

  test('the browser UI and files outside src/ may throw plain errors', async () => {
    expect(await findings("export function f() { throw new Error('x'); }", 'src/web/_probe.ts')).toEqual([]);
    expect(await findings("export function f() { throw new Error('x'); }", 'test/_probe.ts')).toEqual([]);
  });
});
