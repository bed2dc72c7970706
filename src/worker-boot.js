// The entry of every worker thread. Worker threads do not inherit tsx's loader, so a `.ts` worker module
// (the sources, in a checkout) gets it registered first; a compiled one (dist) loads as it is, without tsx.
import { workerData } from 'node:worker_threads';

if (workerData.module.endsWith('.ts')) (await import('tsx/esm/api')).register();
await import(workerData.module);
