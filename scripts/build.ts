/**
 * `npm run build`: the package as it ships, in dist/ — the library and CLI compiled with their type
 * declarations (no source maps: they would carry the build machine's paths), the worker entry, and the
 * web UI prebuilt, so nothing at run time needs tsx or esbuild.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { buildWebUi } from '../src/server/web-bundle.ts';

const root = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));

rmSync(root('dist'), { recursive: true, force: true });
execFileSync(process.execPath, [createRequire(import.meta.url).resolve('typescript/bin/tsc'), '-p', root('tsconfig.build.json')], { stdio: 'inherit' });
copyFileSync(root('src/worker-boot.js'), root('dist/worker-boot.js'));
await buildWebUi(root('src/web'), root('dist/web'));
