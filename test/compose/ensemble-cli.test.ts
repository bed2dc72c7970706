/**
 * Ensemble bundles end to end: `tagbooru ensemble` writes one, `info` lists its members, and the tagger (which
 * prepares each image once per distinct preprocessing) gives the members' own scores combined, or one member's
 * in random mode.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTagger } from '../../src/index.ts';
import { readBundle } from '../../src/infer/bundle.ts';
import { cli } from '../helpers/cli.ts';
import { noiseImage } from '../helpers/images.ts';
import { presetSpec } from '../../src/infer/bundle.ts';
import { combineInTs, threeMembers, tinyMember, writeMembers } from './_members.ts';

let dir: string, members: string[], images: string[];
/** Every member's probabilities per image, by tag name, from its own tagger. */
let alone: Map<string, number>[][];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-ensemble-'));
  members = await writeMembers(dir, threeMembers());
  images = await Promise.all([[90, 60], [40, 70], [33, 33], [64, 50]].map(([w, h], i) => noiseImage(path.join(dir, `img${i}.png`), w!, h!, i + 1)));
  alone = await membersAlone();
});

afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

async function membersAlone(): Promise<Map<string, number>[][]> {
  return Promise.all(members.map(async (m) => {
    const tagger = await createTagger(m, { threads: 1 });
    try {
      const results = await tagger.tag(images, { scores: true });
      return results.map((r) => new Map(tagger.tags.map((t, j) => [t.name, r.scores![j]!])));
    } finally {
      await tagger.close();
    }
  }));
}

describe('tagbooru ensemble', () => {
  it('writes one bundle whose tags equal the members run alone, combined (two preprocessings, one session)', async () => {
    const out = path.join(dir, 'ens');
    const made = await cli(['ensemble', ...members, '--out', out, '--combine', 'weighted', '--weights', '0.5,0.3,0.2', '--name', 'trio']);
    expect(made.stderr).toBe('');
    expect(made.stdout).toMatch(/3 members combined by weighted, 6 tags, inputs input NHWC 16×16, input_1 NCHW 20×12/);
    const want = alone;
    const tagger = await createTagger(out, { threads: 1 });
    const results = await tagger.tag(images, { scores: true, batchSize: 3 });
    await tagger.close();
    const union = tagger.tags.map((t) => t.name);
    results.forEach((r, i) => {
      expect(r.error).toBeNull();
      const oracle = combineInTs(want.map((m) => m[i]!), [0.5, 0.3, 0.2], union, 'prob-mean');
      Array.from(r.scores!).forEach((v, u) => expect(v, `${path.basename(r.file)} ${union[u]}`).toBeCloseTo(oracle[u]!, 5));
    });

    const info = await cli(['info', out]);
    expect(info.stdout).toMatch(/input\s+input: NHWC 16×16, batch dynamic \(fit-then-pad/);
    expect(info.stdout).toMatch(/\n\s+input_1: NCHW 20×12, batch dynamic \(pad-then-resize with cubic resize/);
    expect(info.stdout).toMatch(/ensemble\s+3 members combined by weighted/);
    expect(info.stdout).toMatch(/member 2\s+b: tiny-logits, 20×12 on input_1, 3 tags, weight 0.3, from .*\/b \(test\)\n/);
    const json = JSON.parse((await cli(['info', out, '--json'])).stdout) as { ensemble: { members: { name: string; weight: number }[] } };
    expect(json.ensemble.members.map((m) => [m.name, m.weight])).toEqual([['a', 0.5], ['b', 0.3], ['c', 0.2]]);

    // evaluate and metrics take it like any bundle
    const evaluated = await cli(['evaluate', images[0]!, '--model-path', out, '--threshold', '0']);
    expect(evaluated.stdout.trim().split('\n').slice(1).map((l) => Number(/^\(([\d.]+)\)/.exec(l)![1]))).toEqual(union.map((_, u) => Number(results[0]!.scores![u]!.toFixed(3))));
    const labelled = path.join(dir, 'labelled');
    await fs.mkdir(labelled);
    for (const [i, tags] of [[0, 'a e'], [1, 'f']] as const) {
      await fs.copyFile(images[i]!, path.join(labelled, `${i}.png`));
      await fs.writeFile(path.join(labelled, `${i}.txt`), tags);
    }
    const metrics = await cli(['metrics', out, labelled, '--format', 'json']);
    expect([metrics.code, metrics.stderr]).toEqual([0, expect.any(String)]);
    expect(JSON.parse(metrics.stdout)).toMatchObject({ model: out, data: labelled });
  });

  it('a WD-style member (BGR, 0–255, padded square, bicubic) beside a DeepDanbooru-style one: each reads the image as it does alone', async () => {
    const wd = tinyMember('wd', ['a', 'g'], presetSpec('wd', { width: 24, height: 24 }), 'sigmoid', 4);
    const [wdDir] = await writeMembers(dir, [wd]);
    const out = path.join(dir, 'dd-wd');
    expect((await cli(['ensemble', members[0]!, wdDir!, '--out', out, '--combine', 'prob-mean'])).code).toBe(0);
    const wdTagger = await createTagger(wdDir!, { threads: 1 });
    const wdAlone = (await wdTagger.tag(images, { scores: true })).map((r) => new Map(wdTagger.tags.map((t, j) => [t.name, r.scores![j]!])));
    await wdTagger.close();
    const tagger = await createTagger(out, { threads: 1 });
    const results = await tagger.tag(images, { scores: true });
    await tagger.close();
    expect(tagger.tags.map((t) => t.name)).toEqual(['a', 'b', 'c', 'd', 'g']);
    results.forEach((r, i) => {
      const oracle = combineInTs([alone[0]![i]!, wdAlone[i]!], [0.5, 0.5], ['a', 'b', 'c', 'd', 'g'], 'prob-mean');
      Array.from(r.scores!).forEach((v, u) => expect(v).toBeCloseTo(oracle[u]!, 5));
    });
  });

  it('random: each image gets exactly one member\'s scores, drawn by a seedable generator; tag --seed replays it', async () => {
    const out = path.join(dir, 'random');
    expect((await cli(['ensemble', ...members, '--out', out, '--combine', 'random'])).code).toBe(0);
    expect((await readBundle(out)).manifest.ensemble).toMatchObject({ combine: 'random', memberOutput: 'member_probabilities' });
    const want = alone;
    const many = [...images, ...images, ...images];
    const run = async (seed: number) => {
      const tagger = await createTagger(out, { threads: 1, seed });
      try {
        return await tagger.tag(many, { scores: true });
      } finally {
        await tagger.close();
      }
    };
    const first = await run(1), again = await run(1);
    const union = ['a', 'b', 'c', 'd', 'e', 'f'];
    const drawn = first.map((r, i) => {
      const own = want.map((m) => m[i % images.length]!);
      // the member whose every known tag matches exactly
      const k = own.findIndex((m) => [...m].every(([tag, p]) => Math.abs(r.scores![union.indexOf(tag)]! - p) < 1e-6));
      expect(k, `image ${i}`).toBeGreaterThanOrEqual(0);
      return k;
    });
    expect(new Set(drawn).size, `members drawn: ${drawn.join(',')}`).toBeGreaterThan(1);
    expect(again.map((r) => Array.from(r.scores!))).toEqual(first.map((r) => Array.from(r.scores!)));
    const tagged = await cli(['tag', '--model', out, '--seed', '3', '--format', 'json', ...images]);
    expect(tagged.code).toBe(0);
    expect((await cli(['tag', '--model', out, '--seed', '3', '--format', 'json', ...images])).stdout).toBe(tagged.stdout);
  });

  it('refuses one member, an unknown combine mode, bad weights; fit-ood refuses an ensemble, named; grad-cam explains it', async () => {
    const one = await cli(['ensemble', members[0]!, '--out', path.join(dir, 'x')]);
    expect([one.code, one.stderr]).toEqual([2, expect.stringMatching(/at least 2 member bundles but received 1/)]);
    const mode = await cli(['ensemble', ...members, '--out', path.join(dir, 'x'), '--combine', 'median']);
    expect(mode.stderr).toMatch(/Expected one of logit-mean, prob-mean, weighted, random for --combine but received "median"/);
    const count = await cli(['ensemble', ...members, '--out', path.join(dir, 'x'), '--weights', '1,2']);
    expect(count.stderr).toMatch(/one --weights value per member \(3\) but received 2/);
    const negative = await cli(['ensemble', ...members, '--out', path.join(dir, 'x'), '--weights', '1,-2,1']);
    expect([negative.code, negative.stderr]).toEqual([2, expect.stringMatching(/--weights/)]);
    const missing = await cli(['ensemble', ...members, '--out', path.join(dir, 'x'), '--combine', 'weighted']);
    expect(missing.stderr).toMatch(/--combine weighted needs --weights/);
    const randomTta = await cli(['ensemble', ...members, '--out', path.join(dir, 'x'), '--combine', 'random', '--tta', 'flip']);
    expect(randomTta.stderr).toMatch(/--tta with --combine random would augment after the draw/);
    await expect(fs.access(path.join(dir, 'x'))).rejects.toThrow();

    const out = path.join(dir, 'ens2');
    expect((await cli(['ensemble', members[0]!, members[2]!, '--out', out])).code).toBe(0);
    const ood = await cli(['fit-ood', out, dir]);
    expect(ood.stderr).toMatch(/is an ensemble \(2 members\): out-of-distribution scores are fitted on single models only/);
    // explained member by member (test/explain/ensemble.test.ts checks the maps)
    const cam = await cli(['grad-cam', '--model', out, images[0]!, path.join(dir, 'cam'), '--tags', 'a']);
    expect(cam.code).toBe(0);
    expect((await fs.readdir(path.join(dir, 'cam'))).length).toBeGreaterThan(0);
  });
});
