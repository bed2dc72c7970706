/**
 * Failures a user can reach keep their code: each row is a mistake someone can make with a model spec, a
 * bundle's weights or a training set, and the code the CLI and the server will map it by. A plain Error here
 * would surface as E_INTERNAL (exit 1, HTTP 500).
 */
import { describe, expect, test } from 'vitest';
import { buildTrainingStep } from '../../src/autodiff/step-graph.ts';
import { TagbooruError, type ErrorCode } from '../../src/errors.ts';
import { exportInference } from '../../src/models/export.ts';
import { RESNET_VARIANTS, buildResNet } from '../../src/models/resnet.ts';
import { inferShapes } from '../../src/models/shapes.ts';
import { inputLayer, type Layer, type ModelSpec } from '../../src/models/spec.ts';

const spec = (name: string, layers: Layer[], output = layers.at(-1)!.name): ModelSpec => ({ name, layers, output });
const input: Layer = { kind: 'input', name: 'in', shape: [8, 8, 2] };
const conv = (name: string, from: string, filters = 2): Layer => ({ kind: 'conv', name, input: from, filters, kernel: [1, 1], strides: [1, 1], padding: 'same', useBias: false });
const step = (model: ModelSpec) => buildTrainingStep(model, { batch: 1, loss: 'binary_crossentropy', optimizer: { name: 'sgd' } });

function codeOf(call: () => unknown): { code: ErrorCode | 'none' | 'plain'; message: string } {
  try {
    call();
    return { code: 'none', message: '' };
  } catch (e) {
    return e instanceof TagbooruError ? { code: e.code, message: e.message } : { code: 'plain', message: (e as Error).message };
  }
}

describe.each<[string, () => unknown, ErrorCode, RegExp]>([
  ['a window larger than its input (resnet_152 at 64 px)', () => inferShapes(buildResNet('resnet_152', RESNET_VARIANTS.resnet_152, { tags: 3, imageSize: [64, 64] })), 'E_MODEL', /ap_final: input 2×2 is too small for a 7×7 window/],
  ['a layer reading one defined after it', () => inferShapes(spec('m', [input, conv('a', 'b'), conv('b', 'in')])), 'E_MODEL', /a: input b is not defined before it/],
  ['maps that cannot be added', () => inferShapes(spec('m', [input, conv('a', 'in', 3), { kind: 'add', name: 'sum', inputs: ['in', 'a'] }])), 'E_MODEL', /sum: cannot combine \[8,8,2\] and \[8,8,3\]/],
  ['a model without an input layer', () => inputLayer(spec('headless', [conv('a', 'x')])), 'E_MODEL', /model headless has no input layer/],
  ['weights that lack a variable', () => exportInference(spec('m', [input, conv('a', 'in'), { kind: 'gap', name: 'g', input: 'a' }, { kind: 'sigmoid', name: 'p', input: 'g' }]), new Map()), 'E_MODEL', /missing weight a\/kernel/],
  ['training a layer that does not lead to the output', () => step(spec('dead', [input, conv('unused', 'in'), conv('a', 'in'), { kind: 'gap', name: 'g', input: 'a' }, { kind: 'sigmoid', name: 'p', input: 'g' }], 'p')), 'E_MODEL', /model dead: unused\/kernel does not lead to the output/],
  ['training through a SAME average pool', () => step(spec('m', [input, conv('a', 'in'), { kind: 'avgpool', name: 'ap', input: 'a', pool: [3, 3], strides: [2, 2], padding: 'same' }, { kind: 'gap', name: 'g', input: 'ap' }, { kind: 'sigmoid', name: 'p', input: 'g' }])), 'E_MODEL', /ap: the gradient of a SAME average pool is not supported/],
])('%s', (_name, call, code, message) => {
  test(`is ${code}`, () => {
    const got = codeOf(call);
    expect(got.code).toBe(code);
    expect(got.message).toMatch(message);
  });
});
