/** A worker for the protocol's tests: each request names what the worker does with it. */
import { existsSync } from 'node:fs';
import { TagbooruError } from '../../src/errors.ts';
import { transfer } from '../../src/workers/protocol.ts';
import { serve } from '../../src/workers/serve.ts';

export interface FixtureInit {
  /** Fail the start with this code. */
  readonly failStart?: string;
  /** Die while starting whenever this file exists. */
  readonly dieAtStartIf?: string;
}
export type FixtureRequest =
  | { op: 'echo'; value: unknown }
  | { op: 'sum'; data: Float64Array }
  | { op: 'usage' }
  | { op: 'plain' }
  | { op: 'hang' }
  | { op: 'uncaught' }
  | { op: 'wait'; ms: number };

await serve<FixtureInit, FixtureRequest, unknown, { pid: number }>((init) => {
  if (init.dieAtStartIf && existsSync(init.dieAtStartIf)) process.exit(7);
  if (init.failStart) throw new TagbooruError(init.failStart as 'E_BUNDLE', 'the bundle has no model.onnx', { cause: new Error('ENOENT') });
  return {
    info: { pid: process.pid },
    handle: async (req) => {
      switch (req.op) {
        case 'echo': return req.value;
        case 'sum': {
          const out = new Float64Array([req.data.reduce((a, b) => a + b, 0)]);
          return transfer(out, [out.buffer]);
        }
        case 'usage': throw new TagbooruError('E_USAGE', 'Expected --image-size of at least 224 but received 64', { cause: new RangeError('2×2 is too small') });
        case 'plain': throw new Error('an invariant broke');
        case 'hang': return new Promise(() => undefined);
        case 'uncaught':
          setTimeout(() => {
            throw new Error('native-like crash');
          });
          return new Promise(() => undefined);
        case 'wait': return new Promise((resolve) => setTimeout(() => resolve(req.ms), req.ms));
      }
    },
  };
});
