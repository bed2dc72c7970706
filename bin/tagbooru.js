#!/usr/bin/env node
// The CLI ships as TypeScript; tsx compiles it on load so `npx tagbooru` works right after `npm ci`.
import { register } from 'tsx/esm/api';

register();
const { runProcess } = await import('../src/cli/main.ts');
await runProcess();
