/**
 * The defence an attack goes through: a spec as `tag --defence` takes it (src/infer/defences.ts, docs/defences.md),
 * e.g. `jpeg:quality=75`, `median:size=3+bit-depth:bits=5`, `denoiser`; absent, the bundle's own; `none`, none.
 */
import type { Defence } from '../image/defence.ts';
import type { Bundle } from '../infer/bundle.ts';
import { chooseDefence, openDefence, runtimeDefences } from '../infer/defences.ts';

export function openAttackDefence(bundle: Bundle, spec: string | undefined): Promise<Defence | null> {
  return openDefence(chooseDefence(bundle, spec ?? null), '--defence');
}

/** Every defence the runtime knows by name, each with its default parameters (the evaluation's rows). */
export function defenceNames(): string[] {
  return Object.keys(runtimeDefences(process.cwd()));
}
