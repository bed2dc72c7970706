/**
 * Every registered architecture (timm's loop over the registry): it builds, its shapes end at [tags], and
 * the real ones match reference/deepdanbooru.md §3 exactly — parameter counts, conv/BN counts, Keras names.
 * Specs only: no weights are allocated for the big models.
 */
import { describe, expect, it } from 'vitest';
import { TagbooruError } from '../../src/errors.ts';
import { ARCHITECTURES, buildModel, minimumImageSize } from '../../src/models/registry.ts';
import { RESNET_VARIANTS, buildResNet, type ResNetConfig } from '../../src/models/resnet.ts';
import { inferShapes, parameterCount, variables } from '../../src/models/shapes.ts';
import type { Layer, ModelSpec } from '../../src/models/spec.ts';

const TAGS = 9176;
/** ap_final is a 7×7 VALID pool: its input must be ≥ 7, i.e. more than 6·32 px for resnet_152's four stages. */
const LEGAL_SIZE: Partial<Record<string, number>> = { resnet_152: 224 };

const count = (spec: ModelSpec, kind: Layer['kind']) => spec.layers.filter((l) => l.kind === kind).length;
const layer = (spec: ModelSpec, name: string) => spec.layers.find((l) => l.name === name);
const numel = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);
const lastOf = (spec: ModelSpec, kinds: readonly Layer['kind'][]) => [...spec.layers].reverse().find((l) => kinds.includes(l.kind));

/** The layer whose weights are the classifier: the conv before GAP, or the dense. */
function headLayer(spec: ModelSpec): Layer {
  const head = lastOf(spec, ['dense', 'conv']);
  if (!head) throw new Error(`${spec.name} has no head`);
  return head;
}

/** Projection shortcuts: the convs whose BN is an add's second operand. */
function shortcutConvs(spec: ModelSpec): string[] {
  return spec.layers.flatMap((l) => {
    if (l.kind !== 'add') return [];
    const bn = layer(spec, l.inputs[1]!);
    return bn?.kind === 'bn' ? [bn.input] : [];
  });
}

describe.each(ARCHITECTURES)('%s', (arch) => {
  const size = LEGAL_SIZE[arch] ?? 64;
  const spec = buildModel(arch, { tags: 5, imageSize: [size, size] });

  it('builds a DAG whose output is a sigmoid over [tags]', () => {
    const shapes = inferShapes(spec); // throws if a layer reads one defined after it
    expect(shapes.get(spec.output)).toEqual([5]);
    expect(layer(spec, spec.output)?.kind).toBe('sigmoid');
    expect(spec.layers.filter((l) => l.kind === 'input').map((l) => l.name)).toEqual(['input_1']);
    expect(shapes.get('input_1')).toEqual([size, size, 3]);
  });

  it('has unique layer names and variable keys', () => {
    const names = spec.layers.map((l) => l.name);
    expect(new Set(names).size).toBe(names.length);
    const keys = variables(spec).map((v) => v.key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('follows Keras naming: batch_normalization_k normalises conv2d_k, no conv has a bias', () => {
    for (const l of spec.layers) {
      if (l.kind === 'bn') expect(l.input.replace('conv2d', '')).toBe(l.name.replace('batch_normalization', ''));
      if (l.kind === 'conv') expect(l.useBias).toBe(false);
    }
  });

  it('zero-inits exactly the BN closing each residual branch', () => {
    const zero = spec.layers.filter((l) => l.kind === 'bn' && l.zeroGamma).map((l) => l.name);
    const branches = spec.layers.flatMap((l) => (l.kind === 'add' ? [l.inputs[0]!] : []));
    expect(zero).toEqual(branches);
  });
});

interface Reference {
  convs: number; bns: number; total: number; backbone: number; nonTrainable: number;
  head: string; headParams: number; sigmoid: string; featureMap512: readonly number[]; featureMap299: readonly number[];
}

// reference/deepdanbooru.md §3.3–3.5, at 9176 tags.
const REFERENCE: Record<string, Reference> = {
  resnet_custom_v1: { convs: 166, bns: 165, total: 155_739_072, backbone: 118_154_176, nonTrainable: 196_480, head: 'conv2d_165', headParams: 4096 * TAGS, sigmoid: 'activation_160', featureMap512: [8, 8, 4096], featureMap299: [5, 5, 4096] },
  resnet_custom_v2: { convs: 287, bns: 286, total: 140_757_952, backbone: 121_965_504, nonTrainable: 299_904, head: 'conv2d_286', headParams: 2048 * TAGS, sigmoid: 'activation_280', featureMap512: [4, 4, 2048], featureMap299: [3, 3, 2048] },
  resnet_custom_v3: { convs: 179, bns: 178, total: 161_272_768, backbone: 123_687_872, nonTrainable: 210_816, head: 'conv2d_178', headParams: 4096 * TAGS, sigmoid: 'activation_172', featureMap512: [4, 4, 4096], featureMap299: [3, 3, 4096] },
  resnet_custom_v4: { convs: 149, bns: 148, total: 75_832_256, backbone: 57_039_808, nonTrainable: 146_304, head: 'conv2d_148', headParams: 2048 * TAGS, sigmoid: 'activation_142', featureMap512: [4, 4, 2048], featureMap299: [3, 3, 2048] },
  // ap_final turns 16×16 into 2×2 at 512 px, so the dense head sees 2·2·2048 features.
  resnet_152: { convs: 155, bns: 155, total: 58_295_232 + 8192 * TAGS + TAGS, backbone: 58_295_232, nonTrainable: 0, head: 'dense', headParams: 8192 * TAGS + TAGS, sigmoid: 'activation_151', featureMap512: [16, 16, 2048], featureMap299: [10, 10, 2048] },
};

describe.each(Object.entries(REFERENCE))('%s matches the reference at 512 px / 9176 tags', (arch, want) => {
  const spec = buildModel(arch, { tags: TAGS, imageSize: [512, 512] });
  const head = headLayer(spec);
  const headParams = variables(spec).filter((v) => v.key.startsWith(`${head.name}/`)).reduce((p, v) => p + numel(v.shape), 0);

  it('parameter counts', () => {
    const { total, trainable } = parameterCount(spec);
    expect(total).toBe(want.total);
    expect(headParams).toBe(want.headParams);
    expect(total - headParams).toBe(want.backbone);
    if (want.nonTrainable) expect(total - trainable).toBe(want.nonTrainable);
  });

  it('conv and BN counts, head and sigmoid names', () => {
    expect([count(spec, 'conv'), count(spec, 'bn')]).toEqual([want.convs, want.bns]);
    expect(head.name).toBe(want.head);
    expect(spec.output).toBe(want.sigmoid);
  });

  it('feature map before the head at 512 and 299 px', () => {
    const last = (s: ModelSpec) => inferShapes(s).get(lastOf(s, ['add'])!.name);
    expect(last(spec)).toEqual(want.featureMap512);
    expect(last(buildModel(arch, { tags: TAGS, imageSize: [299, 299] }))).toEqual(want.featureMap299);
  });
});

describe('Keras names (§3.5)', () => {
  const v3 = buildModel('resnet_custom_v3', { tags: TAGS, imageSize: [512, 512] });
  const v4 = buildModel('resnet_custom_v4', { tags: TAGS, imageSize: [512, 512] });

  it('v3: stage shortcuts conv2d_4, 14, 39, 100, 161, 171; adds run add … add_56', () => {
    expect(shortcutConvs(v3)).toEqual([4, 14, 39, 100, 161, 171].map((i) => `conv2d_${i}`));
    const adds = v3.layers.filter((l) => l.kind === 'add').map((l) => l.name);
    expect([adds[0], adds[1], adds.at(-1), adds.length]).toEqual(['add', 'add_1', 'add_56', 57]);
  });

  it('v4: stages start at conv2d_1, 11, 36, 70, 104, 138', () => {
    expect(shortcutConvs(v4)).toEqual([1, 11, 36, 70, 104, 138].map((i) => `conv2d_${i + 3}`));
  });

  it('v3 head: conv2d_178 is a 1×1 conv 4096 → N over a 4×4 map, then global_average_pooling2d', () => {
    const head = layer(v3, 'conv2d_178');
    expect(head).toMatchObject({ kind: 'conv', filters: TAGS, kernel: [1, 1], useBias: false });
    expect(variables(v3).find((v) => v.key === 'conv2d_178/kernel')?.shape).toEqual([TAGS, 4096, 1, 1]);
    expect(layer(v3, 'global_average_pooling2d')).toMatchObject({ input: 'conv2d_178' });
  });

  it('stem and pool shapes follow TF SAME (§3.4)', () => {
    const at = (px: number) => inferShapes(buildModel('resnet_custom_v3', { tags: 3, imageSize: [px, px] }));
    expect([at(512).get('conv2d'), at(512).get('max_pooling2d')]).toEqual([[256, 256, 64], [128, 128, 64]]);
    expect([at(299).get('conv2d'), at(299).get('max_pooling2d')]).toEqual([[150, 150, 64], [75, 75, 64]]);
    expect(layer(v3, 'batch_normalization')).toMatchObject({ epsilon: 1e-3, momentum: 0.99 });
  });
});

describe('buildModel', () => {
  it('refuses an unknown name and lists the known ones', () => {
    const call = () => buildModel('resnet_custom_v9', { tags: 3, imageSize: [64, 64] });
    expect(call).toThrow(TagbooruError);
    expect(call).toThrow(`Unknown model "resnet_custom_v9". Known: ${ARCHITECTURES.join(', ')}`);
    try { call(); } catch (e) { expect((e as TagbooruError).code).toBe('E_MODEL'); }
  });

  it('refuses an image below the architecture\'s minimum as a usage error naming imageSize and the minimum', () => {
    const call = () => buildModel('resnet_152', { tags: 3, imageSize: [128, 128] });
    expect(call).toThrow('Expected imageSize of at least 193 for resnet_152 but received [128, 128]');
    try { call(); } catch (e) { expect((e as TagbooruError).code).toBe('E_USAGE'); }
    expect(() => buildModel('resnet_152', { tags: 3, imageSize: [193, 192] })).toThrow(/at least 193/);
  });

  it('lists the real architectures and the test variants', () => {
    expect(ARCHITECTURES).toEqual(expect.arrayContaining(['resnet_custom_v1', 'resnet_custom_v2', 'resnet_custom_v3', 'resnet_custom_v4', 'resnet_152', 'test_tiny', 'test_tiny_dense', 'test_small']));
  });
});

describe('minimumImageSize', () => {
  // the stride before the head, from the stem (2), the max pool (2) and every stage after the first (2 each)
  const headStride = (arch: string) => 2 ** (2 + (RESNET_VARIANTS as Record<string, ResNetConfig>)[arch]!.filters.length - 1);

  it('is one row past six head strides for a 7×7 ap_final, and 1 for a conv-gap head', () => {
    expect(minimumImageSize('resnet_152')).toBe(193);
    expect(minimumImageSize('test_tiny_dense')).toBe(49);
    for (const arch of ARCHITECTURES) {
      const config = (RESNET_VARIANTS as Record<string, ResNetConfig>)[arch]!;
      expect(minimumImageSize(arch), arch).toBe(config.head === 'avgpool-dense' ? 6 * headStride(arch) + 1 : 1);
    }
  });

  it.each(ARCHITECTURES)('%s builds at its minimum and not one pixel below', (arch) => {
    const min = minimumImageSize(arch);
    const build = (px: number) => inferShapes(buildResNet(arch, (RESNET_VARIANTS as Record<string, ResNetConfig>)[arch]!, { tags: 3, imageSize: [px, px] }));
    expect(() => build(min)).not.toThrow();
    if (min > 1) expect(() => build(min - 1)).toThrow(/too small for a 7×7 window/);
  });

  it('refuses an unknown architecture as buildModel does', () => {
    expect(() => minimumImageSize('resnet_custom_v9')).toThrow(/Unknown model "resnet_custom_v9"/);
  });
});
