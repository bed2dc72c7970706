/**
 * The native packages, each loaded by the one module that owns it (image/sharp.ts, infer/session.ts,
 * data/sqlite.ts). Their own load errors name a missing `.node` file or an ELF header, not the cure: a build
 * skipped at install, or a binary for another platform or Node version. Here a failure says what to run.
 */
import { createRequire } from 'node:module';
import { TagbooruError, errorMessage } from './errors.ts';

export type NativePackage = 'better-sqlite3' | 'onnxruntime-node' | 'sharp';

const here = `${process.platform}-${process.arch}`;

const FIXES: Record<NativePackage, () => string> = {
  'better-sqlite3': () =>
    'It compiles from source when installed, which needs a C++ toolchain, Python 3 and the Node headers ' +
    '(Debian: `apt-get install build-essential python3`; Debian\'s nodejs ships the headers in /usr/include/node). ' +
    'Then run `npm_config_nodedir=/usr npm rebuild better-sqlite3` (drop the nodedir where node-gyp may download headers), ' +
    'with "better-sqlite3": true in package.json#allowScripts. A build for another Node version fails the same way: rebuild after changing Node.',
  'onnxruntime-node': () =>
    'Its CPU binaries ship inside the package for linux-x64, linux-arm64, darwin-arm64, win32-x64 and win32-arm64 ' +
    `(this machine: ${here}). Reinstall it with \`ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node\` ` +
    '(its install script only downloads GPU providers and is safe to skip).',
  sharp: () =>
    `Its prebuilt libvips arrives as an optional dependency for one platform; install the one for this machine (${here}) ` +
    `with \`npm install --include=optional --os=${process.platform} --cpu=${process.arch} sharp\`. See https://sharp.pixelplumbing.com/install.`,
};

/** What failed (the loader's first line) and what to run. */
export function nativeLoadError(name: NativePackage, cause: unknown): TagbooruError {
  return new TagbooruError('E_INTERNAL', `${name} failed to load (${errorMessage(cause).split('\n')[0]}). ${FIXES[name]()}`, { cause });
}

/** A CommonJS native package, loaded when first needed. `specifier` differs from `name` only in tests. */
export function requireNative<T>(name: NativePackage, specifier: string = name): T {
  try {
    return createRequire(import.meta.url)(specifier) as T;
  } catch (e) {
    throw nativeLoadError(name, e);
  }
}

/** A native package's module namespace, as `import * as x from name` gives it. */
export async function importNative<T>(name: NativePackage, specifier: string = name): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (e) {
    throw nativeLoadError(name, e);
  }
}
