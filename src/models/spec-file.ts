/**
 * A ModelSpec as a file (a bundle's spec.json): the layer DAG of a model that need not be a registered
 * architecture, such as an imported Keras graph with squeeze-excitation or a dense head. One layer per line.
 * Read back field by field against one table per layer kind, so a damaged or hand-edited file fails naming
 * the layer, the field, what was expected and what arrived.
 */
import { TagbooruError, describeValue, errorMessage } from '../errors.ts';
import { inferShapes } from './shapes.ts';
import type { Layer, LayerKind, ModelSpec } from './spec.ts';

export const SPEC_FORMAT = 'tagbooru-spec';
export const SPEC_VERSION = 1;

interface Field {
  readonly expect: string;
  readonly test: (v: unknown) => boolean;
  readonly optional?: true;
}

const positive = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
const layerName = (v: unknown) => typeof v === 'string' && v.length > 0;

const F = {
  input: { expect: 'a layer name', test: layerName },
  inputs: { expect: 'two or more layer names', test: (v) => Array.isArray(v) && v.length >= 2 && v.every(layerName) },
  count: { expect: 'a positive integer', test: positive },
  pair: { expect: 'two positive integers', test: (v) => Array.isArray(v) && v.length === 2 && v.every(positive) },
  shape: { expect: '[height, width, channels] as positive integers', test: (v) => Array.isArray(v) && v.length === 3 && v.every(positive) },
  padding: { expect: '"same" or "valid"', test: (v) => v === 'same' || v === 'valid' },
  flag: { expect: 'true or false', test: (v) => typeof v === 'boolean' },
  number: { expect: 'a finite number', test: (v) => typeof v === 'number' && Number.isFinite(v) },
  groups: { expect: 'a list of tag-index lists', test: (v) => Array.isArray(v) && v.every((g) => Array.isArray(g) && g.every((i) => Number.isInteger(i) && i >= 0)) },
} satisfies Record<string, Field>;

/** Every field of a layer kind but `kind` and `name`; a field added to the Layer type is a compile error here until it has a check. */
type Fields<K extends LayerKind> = { readonly [P in Exclude<keyof Extract<Layer, { kind: K }>, 'kind' | 'name'>]-?: Field };

const LAYERS: { readonly [K in LayerKind]: Fields<K> } = {
  input: { shape: F.shape },
  conv: { input: F.input, filters: F.count, kernel: F.pair, strides: F.pair, padding: F.padding, useBias: F.flag },
  bn: { input: F.input, epsilon: F.number, momentum: F.number, zeroGamma: { ...F.flag, optional: true } },
  relu: { input: F.input },
  sigmoid: { input: F.input, exclusive: { ...F.groups, optional: true } },
  maxpool: { input: F.input, pool: F.pair, strides: F.pair, padding: F.padding },
  avgpool: { input: F.input, pool: F.pair, strides: F.pair, padding: F.padding },
  add: { inputs: F.inputs },
  multiply: { inputs: F.inputs },
  gap: { input: F.input },
  flatten: { input: F.input },
  dense: { input: F.input, units: F.count, useBias: F.flag },
};

const KINDS = Object.keys(LAYERS) as LayerKind[];

export function encodeSpec(spec: ModelSpec): string {
  const head = JSON.stringify({ format: SPEC_FORMAT, version: SPEC_VERSION, name: spec.name, output: spec.output });
  return `${head.slice(0, -1)},"layers":[\n${spec.layers.map((l) => JSON.stringify(l)).join(',\n')}\n]}\n`;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `source` names the file in messages. */
export function decodeSpec(text: string, source: string): ModelSpec {
  const fail = (what: string) => new TagbooruError('E_BUNDLE', `${source}: ${what}`);
  const expected = (what: string, expect: string, received: unknown) => fail(`Expected ${expect} for ${what} but received ${describeValue(received)}`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw fail(`not valid JSON: ${errorMessage(e)}`);
  }
  if (!isRecord(raw) || raw.format !== SPEC_FORMAT) throw fail(`format must be "${SPEC_FORMAT}"`);
  if (!(typeof raw.version === 'number' && raw.version <= SPEC_VERSION)) throw fail(`version ${String(raw.version)} is newer than this tagbooru reads (${SPEC_VERSION})`);
  if (!layerName(raw.name)) throw expected('name', 'a model name', raw.name);
  if (!Array.isArray(raw.layers) || raw.layers.length === 0) throw expected('layers', 'a non-empty array of layers', raw.layers);

  const layers = raw.layers.map((l: unknown, i): Layer => {
    const at = `layers[${i}]`;
    if (!isRecord(l)) throw expected(at, 'a layer object', l);
    if (!(KINDS as unknown[]).includes(l.kind)) throw expected(`${at}.kind`, `one of ${KINDS.join(', ')}`, l.kind);
    if (!layerName(l.name)) throw expected(`${at}.name`, 'a layer name', l.name);
    const out: Record<string, unknown> = { kind: l.kind, name: l.name };
    for (const [key, field] of Object.entries<Field>(LAYERS[l.kind as LayerKind])) {
      if (l[key] === undefined && field.optional) continue;
      if (!field.test(l[key])) throw expected(`${at}.${key} (${l.name as string})`, field.expect, l[key]);
      out[key] = l[key];
    }
    return out as Layer;
  });
  const names = new Set<string>();
  for (const l of layers) {
    if (names.has(l.name)) throw fail(`two layers are named ${l.name}`);
    names.add(l.name);
  }
  if (typeof raw.output !== 'string' || !names.has(raw.output)) throw expected('output', 'the name of one of its layers', raw.output);
  if (layers.filter((l) => l.kind === 'input').length !== 1) throw fail('a model has exactly one input layer');
  const spec: ModelSpec = { name: raw.name as string, output: raw.output, layers };
  try {
    inferShapes(spec);
  } catch (e) {
    throw fail(errorMessage(e));
  }
  return spec;
}
