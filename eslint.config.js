import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { layerRules } from './eslint.layers.js';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'models/**', 'bench/out/**', 'test/out/**', 'scratch/**', 'training/*/data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', 'bin/*.js', 'src/*.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
    },
  },
  ...layerRules,
  {
    // A plain Error reaches a user as E_INTERNAL, with the wrong exit status and HTTP status: failures carry a
    // TagbooruError code, and only a broken internal invariant (a bug if it fires) may be an InvariantError.
    // src/web is left out: the browser shows messages in the page, and codes exist for the CLI and the server.
    files: ['src/**/*.ts', 'src/**/*.js'],
    ignores: ['src/web/**'],
    rules: {
      'no-restricted-syntax': ['error', {
        selector: ':matches(NewExpression, CallExpression)[callee.name=/^(Error|RangeError|TypeError)$/]',
        message: 'Throw a TagbooruError with a code (src/errors.ts); use InvariantError only for a broken internal invariant.',
      }],
    },
  },
  {
    files: ['bin/*.js', 'src/**/*.js', 'eslint.config.js', 'eslint.layers.js', 'vitest.config.ts'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
