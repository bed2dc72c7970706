/** The importer's small parts, each against values someone could get wrong. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseKerasModel, snakeCase } from '../../src/import/keras-config.ts';
import { convertKerasModel } from '../../src/import/keras-layers.ts';
import { applyCategories, readTagsFile } from '../../src/infer/tags-file.ts';
import { categoryOfCode, parseCsv, readCamieMetadata, readSelectedTags } from '../../src/import/labels.ts';
import { defaultName, storeHome } from '../../src/import/store.ts';
import { safeEntryPath } from '../../src/import/zip.ts';
import { tf2Config, type KerasModelJson } from './_keras.ts';

const made: string[] = [];
afterAll(() => Promise.all(made.map((dir) => fs.rm(dir, { recursive: true, force: true }))));

async function tempFile(name: string, text: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-parts-'));
  made.push(dir);
  const file = path.join(dir, name);
  await fs.writeFile(file, text);
  return file;
}

describe('label files', () => {
  it('CSV: quoted commas, doubled quotes, CRLF and a BOM', async () => {
    expect(parseCsv('a,"b,c","say ""hi"""\r\n1,2,3\n')).toEqual([['a', 'b,c', 'say "hi"'], ['1', '2', '3']]);
    const file = await tempFile('selected_tags.csv', '\uFEFFtag_id,name,category,count\r\n9999999,general,9,807\r\n1,":,)",0,10\r\n2,vocaloid,3,5\r\n3,white_fur,5,1\r\n4,x,2,1\r\n');
    expect(await readSelectedTags(file)).toEqual([
      { name: 'general', category: 'rating' }, { name: ':,)', category: 'general' }, { name: 'vocaloid', category: 'copyright' },
      { name: 'white_fur', category: 'meta' }, { name: 'x', category: 'category_2' },
    ]);
    expect(categoryOfCode('4')).toBe('character');
    await expect(readSelectedTags(await tempFile('selected_tags.csv', 'id,tag\n1,a\n'))).rejects.toThrow(/expected a header with name and category columns/);
  });

  it('categories.json ranges, rating:* wherever it sits, and its errors', async () => {
    const tags = ['a', 'b', 'miku', 'rating:safe', 'score:good'].map((name) => ({ name, category: 'general' }));
    const file = await tempFile('categories.json', JSON.stringify([{ name: 'General', start_index: 0 }, { name: 'Character', start_index: 2 }, { name: 'System', start_index: 3 }]));
    expect((await applyCategories(tags, file)).map((t) => t.category)).toEqual(['general', 'general', 'character', 'rating', 'system']);
    const beyond = await tempFile('categories.json', JSON.stringify([{ name: 'General', start_index: 0 }, { name: 'Character', start_index: 9 }]));
    await expect(applyCategories(tags, beyond)).rejects.toThrow(/character starts at 9, outside the 5 tags of tags.txt/);
    await expect(applyCategories(tags, await tempFile('categories.json', '{"General": 0}'))).rejects.toThrow(/expected a list of/);
  });

  it('Camie metadata: v1 flat maps, v2 nested, an array idx_to_tag, a gap, a stated threshold', async () => {
    const v1 = await readCamieMetadata(await tempFile('m.json', JSON.stringify({ idx_to_tag: { 1: 'b', 0: 'a' }, tag_to_category: { a: 'General', b: 'rating' } })));
    expect(v1).toEqual({ tags: [{ name: 'a', category: 'general' }, { name: 'b', category: 'rating' }], version: 'v1', imageSize: null, threshold: null });
    const v2 = await readCamieMetadata(await tempFile('m.json', JSON.stringify({
      model_info: { img_size: 512 }, dataset_info: { tag_mapping: { idx_to_tag: ['x', 'y'], tag_to_category: { x: 'character' } } },
      usage: { threshold_recommendation: 'use 0.492 for macro F1' },
    })));
    expect(v2).toEqual({ tags: [{ name: 'x', category: 'character' }, { name: 'y', category: 'general' }], version: 'v2', imageSize: 512, threshold: 0.492 });
    await expect(readCamieMetadata(await tempFile('m.json', JSON.stringify({ idx_to_tag: { 0: 'a', 2: 'c' } })))).rejects.toThrow(/without gaps \(index 1 is missing\)/);
  });
});

describe('a tag listed twice in a label file', () => {
  it('is refused with the tag and where each copy sits, in every label format', async () => {
    // line numbers count the blank lines DeepDanbooru skips
    const txt = await tempFile('tags.txt', 'a\nsmile\n\nb\nsmile\nc\nc\n');
    await expect(readTagsFile(txt)).rejects.toMatchObject({
      code: 'E_BUNDLE',
      message: `tags file ${txt} lists "smile" 2 times (line 2, line 5) (and 1 more repeated tag): each entry is one model output, so they cannot be merged; use the label file released with the model`,
    });
    const csv = await tempFile('selected_tags.csv', 'tag_id,name,category,count\n1,a,0,1\n2,b,0,1\n3,a,4,1\n');
    await expect(readSelectedTags(csv)).rejects.toThrow(`label file ${csv} lists "a" 2 times (row 2, row 4): each entry`);
    const camie = await tempFile('m.json', JSON.stringify({ idx_to_tag: { 0: 'x', 1: 'y', 2: 'x' } }));
    await expect(readCamieMetadata(camie)).rejects.toThrow(`Camie metadata ${camie} lists "x" 2 times (index 0, index 2): each entry`);
    expect((await readTagsFile(await tempFile('tags.txt', 'a\n\nb\n'))).map((t) => t.name)).toEqual(['a', 'b']);
  });
});

describe('Keras configs', () => {
  it('snake_case names of the weight groups, as Keras 3 makes them', () => {
    expect(['Conv2D', 'BatchNormalization', 'GlobalAveragePooling2D', 'MaxPooling2D', 'InputLayer', 'ReLU', 'Dense'].map(snakeCase))
      .toEqual(['conv2d', 'batch_normalization', 'global_average_pooling2d', 'max_pooling2d', 'input_layer', 're_lu', 'dense']);
  });

  const L = (class_name: string, name: string, inbound: string[], config: Record<string, unknown> = {}) => ({ class_name, name, inbound, config: { name, ...config } });
  const model = (extra: KerasModelJson['layers'][number]): KerasModelJson => ({
    name: 'm', input: 'in', output: extra.name,
    layers: [L('InputLayer', 'in', [], { batch_input_shape: [null, 8, 8, 3] }), L('Conv2D', 'c', ['in'], { filters: 4, kernel_size: [3, 3], padding: 'same', use_bias: false }), extra],
  });
  const convert = (m: KerasModelJson) => convertKerasModel(parseKerasModel(tf2Config(m), 'x.h5'), 'x.h5');

  it.each([
    [L('Activation', 'act', ['c'], { activation: 'softmax' }), /x\.h5: layer act \(Activation\): activation "softmax" is not supported \(linear, relu, sigmoid\)/],
    [L('BatchNormalization', 'bn', ['c'], { axis: 1 }), /layer bn \(BatchNormalization\): normalises axis 1; only the channel axis/],
    [L('Conv2D', 'd', ['c'], { filters: 2, kernel_size: [3, 3], dilation_rate: [2, 2] }), /layer d \(Conv2D\): dilated convolutions are not supported/],
    [L('MaxPooling2D', 'p', ['c'], { pool_size: [2, 2], padding: 'causal' }), /layer p \(MaxPooling2D\): padding "causal" is not supported/],
    [L('Reshape', 'r', ['c'], { target_shape: [16, 16] }), /layer r \(Reshape\): reshaping \[8,8,4\] to \[16,16\] is not supported/],
    [L('Conv2DTranspose', 'up', ['c']), /layer up \(Conv2DTranspose\): layer class Conv2DTranspose is not supported/],
  ])('%# a layer it cannot run is named with its class and reason', (layer, message) => {
    expect(() => convert(model(layer))).toThrow(message);
  });

  it('Keras 3 endpoint form, a shared layer, an open input size', () => {
    const k3 = { class_name: 'Functional', config: { name: 'f', layers: [{ class_name: 'InputLayer', name: 'input_layer', config: { batch_shape: [null, null, null, 3] }, inbound_nodes: [] }], input_layers: ['input_layer', 0, 0], output_layers: ['input_layer', 0, 0] } };
    const parsed = parseKerasModel(k3, 'y.keras');
    expect(parsed.inputs).toEqual(['input_layer']);
    expect(() => convertKerasModel(parsed, 'y.keras')).toThrow(/the input size is open \(None\)/);
    expect(convertKerasModel(parsed, 'y.keras', { imageSize: [20, 30] }).spec.layers[0]).toEqual({ kind: 'input', name: 'input_layer', shape: [20, 30, 3] });
    const shared = tf2Config(model(L('Activation', 'a', ['c'], { activation: 'relu' }))) as { config: { layers: { inbound_nodes: unknown[] }[] } };
    shared.config.layers[2]!.inbound_nodes.push([['c', 0, 0, {}]]);
    expect(() => parseKerasModel(shared, 'z.h5')).toThrow(/layer a \(Activation\): is called 2 times \(a shared layer\)/);
  });
});

describe('store and zip names', () => {
  it('the store home: TAGBOORU_HOME, then XDG_DATA_HOME, then ~/.local/share', () => {
    expect(storeHome({ TAGBOORU_HOME: '/srv/tb', XDG_DATA_HOME: '/x' })).toBe('/srv/tb');
    expect(storeHome({ XDG_DATA_HOME: '/x' })).toBe('/x/tagbooru');
    expect(storeHome({ HOME: '/home/u' })).toBe('/home/u/.local/share/tagbooru');
  });

  it('default names come from the release, not from the generic model file name', () => {
    expect(defaultName('/dl/deepdanbooru-v3-20211112-sgd-e28.zip')).toBe('deepdanbooru-v3-20211112-sgd-e28');
    expect(defaultName('/hf/wd-vit-tagger-v3/model.onnx')).toBe('wd-vit-tagger-v3');
    expect(defaultName('/r/v3/model-resnet_custom_v3.h5')).toBe('v3');
    expect(defaultName('/m/My Model (copy)')).toBe('My-Model-copy-');
  });

  it('zip entry names that would leave the folder are refused', () => {
    expect(safeEntryPath('a/./b.txt')).toBe('a/b.txt');
    for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'C:\\x', 'a\\..\\..\\x']) expect(() => safeEntryPath(bad), bad).toThrow(/unsafe entry name/);
  });
});
