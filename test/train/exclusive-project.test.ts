/**
 * "exclusive_tags" in project.json: the groups reach the trained bundle (its spec.json and its model.onnx, whose
 * group members then share one softmax), and a group that cannot be trained is refused by name before training.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ModelSession } from '../../src/infer/session.ts';
import { exclusiveGroupsOf } from '../../src/models/exclusive.ts';
import { Rng } from '../../src/models/random.ts';
import { decodeSpec } from '../../src/models/spec-file.ts';
import { validateProject } from '../../src/train/project.ts';
import { cli } from '../helpers/cli.ts';
import { TINY_SIZE, tinyProjects, trainProject, type TinyProjects } from '../helpers/tiny-project.ts';

let tiny: TinyProjects;
beforeAll(async () => {
  tiny = await tinyProjects('tagbooru-exclusive-');
}, 60_000);
afterAll(() => tiny.remove());

test('the trained bundle carries the groups, and its members share one softmax', async () => {
  const dir = await tiny.project('grouped', { exclusive_tags: [['circle', 'square']] });
  const run = await trainProject(dir);
  expect(run.code, run.out).toBe(0);
  const bundle = path.join(dir, 'model-test_tiny');
  const manifest = JSON.parse(await fs.readFile(path.join(bundle, 'tagger.json'), 'utf8')) as { spec?: string; tags: { name: string }[] };
  expect(manifest.spec).toBe('spec.json');
  const names = manifest.tags.map((t) => t.name);
  const group = ['circle', 'square'].map((t) => names.indexOf(t));
  expect(exclusiveGroupsOf(decodeSpec(await fs.readFile(path.join(bundle, 'spec.json'), 'utf8'), 'spec.json'))).toEqual([group]);
  const session = await ModelSession.create(new Uint8Array(await fs.readFile(path.join(bundle, 'model.onnx'))), { threads: 1 });
  const rng = new Rng(1), batch = 8;
  const x = Float32Array.from({ length: batch * TINY_SIZE * TINY_SIZE * 3 }, () => rng.next());
  const p = (await session.run({ input: { data: x, dims: [batch, TINY_SIZE, TINY_SIZE, 3] } })).predictions!.data;
  await session.release();
  for (let n = 0; n < batch; n++) expect(p[n * names.length + group[0]!]! + p[n * names.length + group[1]!]!).toBeLessThan(1);
  // info names the group
  const info = await cli(['info', bundle]);
  expect(info.stdout).toMatch(/^exclusive tags\s+circle, square \(one softmax: at most one per image\)$/m);
  expect((JSON.parse((await cli(['info', bundle, '--json'])).stdout) as { exclusive: string[][] }).exclusive).toEqual([['circle', 'square']]);
  // the gradient methods rebuild the model from spec.json, groups and all
  const image = (await fs.readdir(path.join(tiny.root, 'images'))).find((f) => f.endsWith('.png'))!;
  const out = path.join(dir, 'gradcam');
  const cam = await cli(['grad-cam', '--model', bundle, '--method', 'gradcam', '--tags', 'circle,square', '--threads', '1', path.join(tiny.root, 'images', image), out]);
  expect(cam.code, cam.stderr).toBe(0);
  expect((await fs.readdir(path.join(out, path.parse(image).name))).filter((f) => f.startsWith('mask-')).sort()).toEqual(['mask-circle.png', 'mask-square.png']);
}, 120_000);

test('a project without groups writes no spec.json: the architecture is rebuilt by name as before', async () => {
  const dir = await tiny.project('plain', { epoch_count: 1 });
  expect((await trainProject(dir)).code).toBe(0);
  const manifest = JSON.parse(await fs.readFile(path.join(dir, 'model-test_tiny', 'tagger.json'), 'utf8')) as { spec?: string };
  expect(manifest.spec).toBeUndefined();
  expect((await cli(['info', path.join(dir, 'model-test_tiny')])).stdout).not.toContain('exclusive tags');
}, 120_000);

test('a tag not in tags.txt, or in two groups, is named before training starts', async () => {
  const unknown = await tiny.project('unknown', { exclusive_tags: [['circle', 'triangle']] });
  const a = await trainProject(unknown);
  expect(a.code).toBe(2);
  expect(a.stderr).toContain(`${path.join(unknown, 'project.json')}: "exclusive_tags" names triangle, which is not in tags.txt`);
  const twice = await tiny.project('twice', { exclusive_tags: [['circle', 'square'], ['red', 'circle']] });
  const b = await trainProject(twice);
  expect(b.code).toBe(2);
  expect(b.stderr).toContain('"exclusive_tags" names circle twice; a tag belongs to one group at most');
}, 60_000);

test('a malformed "exclusive_tags" names the key and the shape it takes', () => {
  for (const value of [['circle', 'square'], [['circle']], [['circle', 3]]]) {
    expect(() => validateProject({ exclusive_tags: value }, 'p/project.json')).toThrow(`p/project.json: "exclusive_tags" must be a list of groups of two or more tag names ([["solo", "2girls", "3girls"]]), got ${JSON.stringify(value)}`);
  }
});

test('a teacher cannot yet distil into exclusive groups: the refusal names both keys', async () => {
  const dir = await tiny.project('distilled', { exclusive_tags: [['circle', 'square']], teacher: 'nowhere' });
  const run = await trainProject(dir);
  expect(run.code).toBe(2);
  expect(run.stderr).toContain('distillation does not yet train exclusive tag groups; drop "exclusive_tags" or "teacher"');
}, 60_000);
