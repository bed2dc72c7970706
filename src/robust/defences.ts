/**
 * The defences an attack can name. The registry belongs to the defences (src/image/defence*.ts); until it is
 * merged this map is empty and `--defence` says so. Tests pass their own registry.
 */
import { TagbooruError, invalidOption } from '../errors.ts';
import type { Defence } from '../image/defence.ts';

export type DefenceRegistry = ReadonlyMap<string, () => Defence>;

export const DEFENCES: DefenceRegistry = new Map();

export function defenceByName(name: string, registry: DefenceRegistry = DEFENCES): Defence {
  const make = registry.get(name);
  if (make) return make();
  if (registry.size === 0) throw new TagbooruError('E_USAGE', `Expected a defence for --defence but received "${name}": this build has no defences registered`);
  throw invalidOption('--defence', `one of ${[...registry.keys()].join(', ')}`, name);
}
