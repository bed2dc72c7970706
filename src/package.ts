/**
 * What the package knows about itself, from where this file lies: `src/` in a checkout, `dist/` when
 * installed, both one level below the package root, so the same relative paths hold in either.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = new URL('../', import.meta.url);

/** package.json's version, the one place it is written down. */
export const VERSION = (JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { version: string }).version;

/** The model bundle shipped with the package: what the CLI uses when no model is named. */
export const DEFAULT_MODEL_DIR = fileURLToPath(new URL('models/default', ROOT));
/** The learned de-noiser defence shipped with the package (`denoiser` with no bundle; docs/defences.md). */
export const DEFAULT_DENOISER_DIR = fileURLToPath(new URL('models/denoiser', ROOT));

/** Running from the TypeScript sources (a checkout, through tsx or Vitest) rather than compiled `dist/`. */
export const FROM_SOURCE = import.meta.url.endsWith('.ts');

/**
 * A module beside `base` (an `import.meta.url`), named as in the sources: `./_worker.ts` in a checkout,
 * the compiled `./_worker.js` in dist. Worker entries are URLs, which the compiler does not rewrite.
 */
export function siblingModule(name: string, base: string): URL {
  return new URL(FROM_SOURCE ? name : name.replace(/\.ts$/, '.js'), base);
}

/** The one entry file of every worker thread; it loads the worker module named in its `workerData.module`. */
export const WORKER_BOOT = new URL('worker-boot.js', import.meta.url);
