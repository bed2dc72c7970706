#!/usr/bin/env node
// Installed, the package holds the compiled CLI (dist/) and no sources. In a checkout the sources are
// run through tsx (a development dependency), so `npx tagbooru` works right after `npm ci` and never
// runs a stale build.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
let main;
if (existsSync(source)) {
  (await import('tsx/esm/api')).register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../dist/cli/main.js'));
}
process.exitCode = await main(process.argv.slice(2));
