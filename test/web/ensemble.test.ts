/**
 * An ensemble bundle whose members read images differently (two graph inputs) served like any bundle: POST
 * /v1/tag gives the library's scores, and the web UI tags with it on the server and in this browser alike.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTagger, type Tagger } from '../../src/index.ts';
import { buildApp } from '../../src/server/app.ts';
import { cli } from '../helpers/cli.ts';
import { noiseImage } from '../helpers/images.ts';
import { multipart } from '../server/_fixtures.ts';
import { threeMembers, writeMembers } from '../compose/_members.ts';
import { chromiumPresent, expectPageTags, openPages, OUT } from './_chromium.ts';

const present = chromiumPresent('test/web/ensemble.test.ts');

let dir: string, ensemble: string, sample: string, app: FastifyInstance, tagger: Tagger;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-web-ensemble-'));
  const members = await writeMembers(dir, threeMembers());
  ensemble = path.join(dir, 'trio');
  const made = await cli(['ensemble', ...members, '--out', ensemble, '--combine', 'logit-mean', '--name', 'trio']);
  expect(made.stderr).toBe('');
  sample = await noiseImage(path.join(dir, 'sample.png'), 96, 80, 5);
  app = await buildApp({ model: ensemble, browserModels: [ensemble], prepWorkers: 1 });
  tagger = await createTagger(ensemble, { threads: 1 });
});

afterAll(async () => {
  await app?.close();
  await tagger?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('an ensemble on the server', () => {
  test('POST /v1/tag: every score is the library\'s, exact to the float32; /v1/explain averages the members\' maps', async () => {
    const png = await fs.readFile(sample);
    const res = await app.inject({ method: 'POST', url: '/v1/tag', ...multipart([{ name: 'file', value: png, filename: 'sample.png', type: 'image/png' }, { name: 'floor', value: '0' }]) });
    expect(res.statusCode).toBe(200);
    const scores = res.json<{ results: { scores: { name: string; score: number }[] }[] }>().results[0]!.scores;
    const want = await tagger.tag({ name: 'sample.png', data: png }, { scores: true });
    const names = tagger.tags.map((t) => t.name);
    expect(scores.map((s) => s.name).sort()).toEqual([...names].sort());
    for (const s of scores) expect(Math.fround(s.score)).toBe(want.scores![names.indexOf(s.name)]);
    const explain = await app.inject({ method: 'POST', url: '/v1/explain', ...multipart([{ name: 'file', value: png, filename: 'sample.png', type: 'image/png' }, { name: 'tags', value: 'a,e' }]) });
    expect(explain.statusCode).toBe(200);
    expect(explain.json<{ tags: { name: string }[] }>().tags.map((t) => t.name)).toEqual(['a', 'e']);
  });
});

describe.skipIf(!present)('an ensemble in the web UI', () => {
  let browser: Browser, url: string;
  beforeAll(async () => void ({ url, browser } = await openPages(app)));
  afterAll(() => browser?.close());

  async function expectLibraryTags(page: Page): Promise<void> {
    expect((await tagger.tag(sample)).tags.length).toBeGreaterThan(0);
    await expectPageTags(page, tagger, sample);
  }

  test('tagged on the server, then in this browser (each input prepared here): the library\'s tags both times', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.setInputFiles('#file', sample);
    await expect.poll(() => page.textContent('#status'), { timeout: 15_000 }).toMatch(/^Tagged on the server/);
    await expectLibraryTags(page);
    await page.click('label.switch');
    await expect.poll(() => page.textContent('#status'), { timeout: 30_000 }).toMatch(/^Tagged in this browser/);
    await expectLibraryTags(page);
    await page.screenshot({ path: path.join(OUT, 'ui-ensemble.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });
});
