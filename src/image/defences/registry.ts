/**
 * Defences by name, with their parameters, from spec strings as the CLI, tagger.json and HTTP write them:
 * `jpeg:quality=75`, `median:size=3`, `jpeg:quality=75+median:size=3` (a chain, applied left to right), `none`.
 * Layers that own more defences (src/infer: the learned de-noiser, which runs ONNX Runtime) pass their own
 * factories beside these.
 */
import { invalidOption } from '../../errors.ts';
import { parseNumber } from '../../option-values.ts';
import type { Defence, DefenceImage } from '../defence.ts';
import { bitDepth, gaussianNoise, jpeg, median, resizePad } from './transforms.ts';

export type ParamRule =
  | { readonly kind: 'number'; readonly min: number; readonly max: number; readonly integer?: boolean; readonly odd?: boolean; readonly default: number; readonly unit: string }
  | { readonly kind: 'text'; readonly unit: string; readonly default?: string };

export type DefenceParams = Readonly<Record<string, number | string>>;

export interface DefenceFactory {
  readonly params: Readonly<Record<string, ParamRule>>;
  readonly randomised: boolean;
  readonly summary: string;
  create(params: DefenceParams): Defence | Promise<Defence>;
}

/** The spec that turns defences off, overriding a bundle's. */
export const NO_DEFENCE = 'none';

const num = (params: DefenceParams, key: string) => params[key] as number;

/** A deterministic defence from a pure pixel function. */
function fixed(name: string, transform: (image: DefenceImage) => DefenceImage | Promise<DefenceImage>): Defence {
  return { name, randomised: false, apply: async (image) => await transform(image) };
}

function randomised(name: string, transform: (image: DefenceImage, random: () => number) => DefenceImage): Defence {
  return { name, randomised: true, apply: (image, random) => Promise.resolve(transform(image, random)) };
}

export const BUILTIN_DEFENCES: Readonly<Record<string, DefenceFactory>> = {
  jpeg: {
    params: { quality: { kind: 'number', min: 1, max: 100, integer: true, default: 75, unit: 'JPEG quality' } },
    randomised: false,
    summary: 'JPEG re-encoding (Guo et al. 2018)',
    create: (p) => fixed('jpeg', (image) => jpeg(image, num(p, 'quality'))),
  },
  'bit-depth': {
    params: { bits: { kind: 'number', min: 1, max: 8, integer: true, default: 4, unit: 'bits per channel' } },
    randomised: false,
    summary: 'colour-depth reduction (feature squeezing, Xu et al. 2018)',
    create: (p) => fixed('bit-depth', (image) => bitDepth(image, num(p, 'bits'))),
  },
  median: {
    params: { size: { kind: 'number', min: 3, max: 15, integer: true, odd: true, default: 3, unit: 'window side in pixels' } },
    randomised: false,
    summary: 'median filter per channel (feature squeezing)',
    create: (p) => fixed('median', (image) => median(image, num(p, 'size'))),
  },
  noise: {
    params: { sigma: { kind: 'number', min: 0, max: 0.5, default: 0.03, unit: 'Gaussian σ on [0, 1] pixels' } },
    randomised: true,
    summary: 'Gaussian noise, randomised',
    create: (p) => randomised('noise', (image, random) => gaussianNoise(image, num(p, 'sigma'), random)),
  },
  'resize-pad': {
    params: { min: { kind: 'number', min: 0.1, max: 1, default: 0.85, unit: 'smallest scale of the side' } },
    randomised: true,
    summary: 'random resize then random zero padding back to the input size (Xie et al. 2018), randomised',
    create: (p) => randomised('resize-pad', (image, random) => resizePad(image, num(p, 'min'), random)),
  },
};

export interface ParsedDefence {
  readonly name: string;
  readonly params: DefenceParams;
}

function describeParam(name: string, key: string, rule: ParamRule): string {
  if (rule.kind === 'text') return `${name}:${key}=<${rule.unit}>`;
  const kind = rule.odd ? 'an odd integer' : rule.integer ? 'an integer' : 'a number';
  return `${kind} between ${rule.min} and ${rule.max} (${rule.unit}) for ${name}:${key}`;
}

function parseOne(text: string, factories: Readonly<Record<string, DefenceFactory>>, option: string): ParsedDefence {
  const colon = text.indexOf(':');
  const name = (colon < 0 ? text : text.slice(0, colon)).trim();
  const factory = Object.hasOwn(factories, name) ? factories[name] : undefined;
  if (!factory) throw invalidOption(option, `a defence among ${[...Object.keys(factories), NO_DEFENCE].join(', ')} (chain them with +)`, name);
  const params: Record<string, number | string> = {};
  const rest = colon < 0 ? '' : text.slice(colon + 1);
  for (const pair of rest === '' ? [] : rest.split(',')) {
    const eq = pair.indexOf('=');
    const key = (eq < 0 ? pair : pair.slice(0, eq)).trim();
    const rule = Object.hasOwn(factory.params, key) ? factory.params[key] : undefined;
    const known = Object.keys(factory.params);
    if (!rule) throw invalidOption(option, `a parameter of ${name}: ${known.length ? known.join(', ') : 'none'}`, key);
    if (eq < 0) throw invalidOption(option, `${name}:${key}=<value>`, pair);
    if (Object.hasOwn(params, key)) throw invalidOption(option, `${name}:${key} once`, text);
    const raw = pair.slice(eq + 1).trim();
    if (rule.kind === 'text') {
      if (raw === '') throw invalidOption(option, describeParam(name, key, rule), raw);
      params[key] = raw;
      continue;
    }
    const value = parseNumber(`${option} ${name}:${key}`, raw, rule.min, rule.max, rule.integer);
    if (rule.odd && value % 2 === 0) throw invalidOption(option, describeParam(name, key, rule), raw);
    params[key] = value;
  }
  for (const [key, rule] of Object.entries(factory.params)) {
    if (Object.hasOwn(params, key)) continue;
    if (rule.default === undefined) throw invalidOption(option, describeParam(name, key, rule), text, `${name} needs ${key}`);
    params[key] = rule.default;
  }
  return { name, params };
}

/** `none` → []; otherwise each link of the chain with every parameter filled in (defaults included). */
export function parseDefenceSpec(spec: string, factories: Readonly<Record<string, DefenceFactory>> = BUILTIN_DEFENCES, option = 'defence'): ParsedDefence[] {
  const text = spec.trim();
  if (text === NO_DEFENCE) return [];
  if (text === '') throw invalidOption(option, `a defence such as jpeg:quality=75, a chain a+b, or ${NO_DEFENCE}`, spec);
  return text.split('+').map((part) => parseOne(part.trim(), factories, option));
}

/** The canonical spec of a parsed chain: every parameter written, in the table's order. */
export function formatDefenceSpec(chain: readonly ParsedDefence[]): string {
  if (chain.length === 0) return NO_DEFENCE;
  return chain.map(({ name, params }) => `${name}${Object.keys(params).length ? ':' : ''}${Object.entries(params).map(([k, v]) => `${k}=${v}`).join(',')}`).join('+');
}

/** Several defences as one, applied left to right; differentiable when every link is and none draws randomness. */
export function chainDefences(links: readonly Defence[]): Defence {
  if (links.length === 1) return links[0]!;
  const apply = async (image: DefenceImage, random: () => number) => {
    let out = image;
    for (const d of links) out = await d.apply(out, random);
    return out;
  };
  const close = async () => void (await Promise.all(links.map(async (d) => d.close?.())));
  const chain: Defence = { name: links.map((d) => d.name).join('+'), randomised: links.some((d) => d.randomised), apply, close };
  // a randomised link would need its draws replayed between the forward and the backward sweep: BPDA instead
  if (chain.randomised || !links.every((d) => d.backward !== undefined)) return chain;
  return {
    ...chain,
    async backward(image, upstream, random) {
      const inputs: DefenceImage[] = [];
      let at = image;
      for (const d of links) {
        inputs.push(at);
        at = await d.apply(at, random);
      }
      let grad = upstream;
      for (let i = links.length - 1; i >= 0; i--) grad = await links[i]!.backward!(inputs[i]!, grad, random);
      return grad;
    },
  };
}

/** A spec to the defence it names (null for `none`), each link made by its factory. */
export async function createDefence(spec: string, factories: Readonly<Record<string, DefenceFactory>> = BUILTIN_DEFENCES, option = 'defence'): Promise<Defence | null> {
  const chain = parseDefenceSpec(spec, factories, option);
  if (chain.length === 0) return null;
  const links = await Promise.all(chain.map(async ({ name, params }) => factories[name]!.create(params)));
  return { ...chainDefences(links), spec: formatDefenceSpec(chain) };
}
