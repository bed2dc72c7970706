/** `--defence` and `--defence-seed`, one definition for every command that tags (tag, evaluate, metrics, serve). */
import { NO_DEFENCE } from '../image/index.ts';
import { numberOption, type OptionSpec } from './command.ts';

export const DEFENCE_OPTIONS = {
  defence: { type: 'string', placeholder: 'spec', description: `input-transformation defence instead of the bundle's, e.g. jpeg:quality=75, median:size=3+bit-depth:bits=5, ${NO_DEFENCE} (docs/defences.md)` },
  'defence-seed': { type: 'string', placeholder: 'n', description: 'seed of a randomised defence\'s draws, the same for every image (default: fresh draws per image)' },
} as const satisfies Record<string, OptionSpec>;

export function readDefenceOptions(v: { defence?: string; 'defence-seed'?: string }): { defence?: string; defenceSeed?: number } {
  const defenceSeed = numberOption('defence-seed', v['defence-seed'], 0, 2 ** 32 - 1, true);
  return { ...(v.defence !== undefined && { defence: v.defence }), ...(defenceSeed !== undefined && { defenceSeed }) };
}
