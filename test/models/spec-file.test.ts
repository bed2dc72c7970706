/**
 * spec.json: every registered architecture reads back as the spec it was written from, and every way a file can
 * be wrong gives one error naming the layer, the field, the expectation and what arrived.
 */
import { describe, expect, it } from 'vitest';
import { ARCHITECTURES, buildModel } from '../../src/models/registry.ts';
import { decodeSpec, encodeSpec } from '../../src/models/spec-file.ts';

const LEGAL_SIZE: Partial<Record<string, number>> = { resnet_152: 224 };

describe('every registered architecture round-trips', () => {
  it.each(ARCHITECTURES)('%s', (arch) => {
    const size = LEGAL_SIZE[arch] ?? 64;
    const spec = buildModel(arch, { tags: 7, imageSize: [size, size] });
    const text = encodeSpec(spec);
    expect(text.split('\n')).toHaveLength(spec.layers.length + 3); // one layer a line
    expect(decodeSpec(text, 'spec.json')).toStrictEqual(spec);
  });
});

describe('a wrong spec.json', () => {
  const good = JSON.parse(encodeSpec(buildModel('test_tiny', { tags: 3, imageSize: [32, 32] }))) as { layers: Record<string, unknown>[] } & Record<string, unknown>;
  const edit = (f: (s: typeof good) => void) => {
    const s = structuredClone(good);
    f(s);
    return JSON.stringify(s);
  };
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{"format":', /^spec\.json: not valid JSON: /],
    ['another format', edit((s) => (s.format = 'keras')), /format must be "tagbooru-spec"/],
    ['a newer version', edit((s) => (s.version = 2)), /version 2 is newer than this tagbooru reads \(1\)/],
    ['an unknown layer kind', edit((s) => (s.layers[3]!.kind = 'gelu')), /Expected one of input, conv, bn, .* for layers\[3\]\.kind but received "gelu"/],
    ['a missing field', edit((s) => delete s.layers[1]!.strides), /Expected two positive integers for layers\[1\]\.strides \(conv2d\) but received undefined/],
    ['a bad padding', edit((s) => (s.layers[1]!.padding = 'SAME')), /Expected "same" or "valid" for layers\[1\]\.padding \(conv2d\) but received "SAME"/],
    ['a merge of one input', edit((s) => (s.layers.find((l) => l.kind === 'add')!.inputs = ['conv2d'])), /Expected two or more layer names for layers\[\d+\]\.inputs \(add\) but received an array of length 1/],
    ['two layers of one name', edit((s) => (s.layers[2]!.name = 'conv2d')), /two layers are named conv2d/],
    ['an output that is no layer', edit((s) => (s.output = 'predictions')), /Expected the name of one of its layers for output but received "predictions"/],
    ['a layer reading one defined after it', edit((s) => (s.layers[1]!.input = 'activation')), /conv2d: input activation is not defined before it/],
  ];
  it.each(cases)('%s', (_, text, message) => {
    expect(() => decodeSpec(text, 'spec.json')).toThrow(message);
  });
});
