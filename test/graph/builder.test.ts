import { describe, expect, it } from 'vitest';
import { encodeAttributes } from '../../src/graph/attributes.ts';
import { Graph, IR_VERSION, OPSET, batchNorm, decodeModel, float, floats, relu } from '../../src/graph/index.ts';

// AttributeProto.AttributeType
const FLOAT = 1, INT = 2, STRING = 3, FLOATS = 6, INTS = 7;

describe('Graph', () => {
  it('rejects a second value with the same name', () => {
    const g = new Graph('dup');
    g.input('x', 'float32', [1, 2]);
    expect(() => g.input('x', 'float32', [1, 2])).toThrow('graph dup: duplicate value name "x"');
    expect(() => g.initializer('x', new Float32Array(2), [2])).toThrow(/duplicate value name "x"/);
  });

  it('gives ops fresh names instead of colliding with a taken one', () => {
    const g = new Graph('fresh');
    const x = g.input('relu', 'float32', [2]);
    const y = relu(g, relu(g, x));
    expect(y.name).not.toBe('relu');
    expect(new Set(decodeModel(g.toModel()).graph?.node?.flatMap((n) => n.output ?? []))).toHaveProperty('size', 2);
  });

  it('rejects an initializer whose data does not fill its shape', () => {
    expect(() => new Graph('g').initializer('w', new Float32Array(5), [2, 3])).toThrow('initializer w: 5 values for shape [2,3]');
  });

  it('deduplicates constants by dtype, shape and value', () => {
    const g = new Graph('consts');
    const a = g.constant([1, 2], [2]);
    expect(g.constant([1, 2], [2])).toBe(a);
    expect(g.ints([1, 2]).name).not.toBe(a.name);
    expect(g.constant([1, 2], [1, 2]).name).not.toBe(a.name);
    expect(g.scalar(3)).toBe(g.scalar(3));
    const inits = decodeModel(g.toModel()).graph?.initializer ?? [];
    expect(inits.map((t) => t.dataType)).toEqual([1, 7, 1, 1]);
  });

  it('renames an output through Identity and refuses a taken output name', () => {
    const g = new Graph('out');
    const x = g.input('x', 'float32', [2]);
    const y = g.output(relu(g, x), 'y');
    expect(y.name).toBe('y');
    expect(decodeModel(g.toModel()).graph?.node?.map((n) => n.opType)).toEqual(['Relu', 'Identity']);
    expect(() => g.output(relu(g, x), 'y')).toThrow('output name "y" is already taken');
  });

  it('round-trips through decodeModel as opset 17, IR 8', () => {
    const g = new Graph('rt');
    g.output(relu(g, g.input('x', 'float32', ['N', 3])), 'y');
    const m = decodeModel(g.toModel('doc'));
    expect([OPSET, IR_VERSION]).toEqual([17, 8]);
    expect(Number(m.irVersion)).toBe(8);
    expect(m.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 17]]);
    expect(m.graph?.name).toBe('rt');
    expect(m.docString).toBe('doc');
    const dims = m.graph?.input?.[0]?.type?.tensorType?.shape?.dim?.map((d) => d.dimParam || Number(d.dimValue));
    expect(dims).toEqual(['N', 3]);
  });
});

describe('pruning', () => {
  it('toModel({ prune }) drops the nodes and initializers no output depends on, and keeps every input', () => {
    const g = new Graph('prune');
    const x = g.input('x', 'float32', [2]), unused = g.input('unused', 'float32', [2]);
    const dead = g.op('Mul', [relu(g, x), g.constant([3, 4], [2])], {}, [2], 'float32', 'dead');
    g.output(g.op('Add', [x, g.constant([1, 2], [2])], {}, [2], 'float32', 'kept'), 'y');
    const kept = decodeModel(g.toModel('', { prune: true })).graph!;
    expect(kept.node!.map((n) => n.opType)).toEqual(['Add', 'Identity']);
    expect(kept.initializer!.map((t) => [...new Float32Array(new Uint8Array(t.rawData!).slice().buffer)])).toEqual([[1, 2]]);
    expect(kept.input!.map((v) => v.name)).toEqual(['x', unused.name]);
    expect(decodeModel(g.toModel()).graph!.node!.map((n) => n.output![0])).toContain(dead.name);
  });
});

describe('attributes', () => {
  it('encodes float() as FLOAT even for whole numbers, and plain integers as INT', () => {
    expect(encodeAttributes({ a: float(1), b: 1, c: floats([1, 2.5]), d: [1, 2], e: 'x', f: undefined })).toEqual([
      { name: 'a', type: FLOAT, f: 1 },
      { name: 'b', type: INT, i: 1 },
      { name: 'c', type: FLOATS, floats: [1, 2.5] },
      { name: 'd', type: INTS, ints: [1, 2] },
      { name: 'e', type: STRING, s: new TextEncoder().encode('x') },
    ]);
  });

  it('refuses an unmarked non-integer', () => {
    expect(() => encodeAttributes({ alpha: 0.5 })).toThrow('attribute alpha=0.5: wrap non-integers in float()');
  });

  it('batchNorm stores epsilon as a float', () => {
    const g = new Graph('bn');
    const v = (n: string) => g.input(n, 'float32', [3]);
    batchNorm(g, g.input('x', 'float32', [1, 3, 2, 2]), v('s'), v('b'), v('m'), v('v'), 1e-3);
    const eps = decodeModel(g.toModel()).graph?.node?.[0]?.attribute?.find((a) => a.name === 'epsilon');
    expect(eps?.type).toBe(FLOAT);
    expect(eps?.f).toBeCloseTo(1e-3, 9);
  });
});
