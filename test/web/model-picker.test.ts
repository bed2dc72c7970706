/**
 * The model picker: a server offering a second model to the browser (`serve --browser-model`) lists it in
 * `/v1/models` with its files; the page offers both, tags with the server's model on the server, and with the
 * other in this browser, each giving the library's tags for its own model.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTagger, type Tagger } from '../../src/index.ts';
import { buildApp } from '../../src/server/app.ts';
import { cli } from '../helpers/cli.ts';
import { makeBundle } from '../server/_fixtures.ts';
import { chromiumPresent, expectPageTags, openPages, OUT, shownTags } from './_chromium.ts';

const present = chromiumPresent('test/web/model-picker.test.ts');

interface Listed { id: string; name: string; runs: string[]; explain: string[]; files: { manifest: string; model: string } }

let dir: string, served: string, other: string, sample: string, app: FastifyInstance;
let taggers: Record<'served' | 'other', Tagger>;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-picker-'));
  await fs.mkdir(path.join(dir, 'a'));
  await fs.mkdir(path.join(dir, 'b'));
  served = await makeBundle(path.join(dir, 'a'), 7);
  // another model, as a store holds it: under its own name, with other weights
  other = path.join(dir, 'b', 'second-tiny');
  await fs.rename(await makeBundle(path.join(dir, 'b'), 11), other);
  const manifest = JSON.parse(await fs.readFile(path.join(other, 'tagger.json'), 'utf8')) as { name: string };
  manifest.name = 'second-tiny';
  await fs.writeFile(path.join(other, 'tagger.json'), JSON.stringify(manifest));
  sample = path.join(dir, 'sample.png');
  await sharp({ create: { width: 96, height: 80, channels: 3, background: '#c0603a' } }).composite([{ input: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="96" height="80"><circle cx="40" cy="36" r="22" fill="#2b5fae"/></svg>') }]).png().toFile(sample);
  app = await buildApp({ model: served, browserModels: [other, served], prepWorkers: 1 });
  taggers = { served: await createTagger(served), other: await createTagger(other) };
});

afterAll(async () => {
  await app?.close();
  await taggers?.served.close();
  await taggers?.other.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('models offered to the browser', () => {
  test('GET /v1/models lists the served model, then the offered one (once each) with its files', async () => {
    const { models } = (await app.inject('/v1/models')).json<{ models: Listed[] }>();
    expect(models.map((m) => [m.id, m.name, m.runs])).toEqual([
      ['default', 'test_tiny-64-untrained', ['server', 'browser']],
      ['second-tiny', 'second-tiny', ['browser']],
    ]);
    // the server explains its own model only
    expect(models[0]!.explain.length).toBeGreaterThan(0);
    expect(models[1]!.explain).toEqual([]);
    expect(models[1]!.files).toEqual({ manifest: '/v1/models/second-tiny/tagger.json', model: '/v1/models/second-tiny/model.onnx' });
    expect((await app.inject(models[1]!.files.manifest)).json<{ name: string }>().name).toBe('second-tiny');
    const onnx = await app.inject(models[1]!.files.model);
    expect(onnx.rawPayload.equals(await fs.readFile(path.join(other, 'model.onnx')))).toBe(true);
    expect(onnx.rawPayload.equals(await fs.readFile(path.join(served, 'model.onnx')))).toBe(false);
  });

  test('a folder that is no bundle stops the start, named; so do a bad name and a broken store model on the command line', async () => {
    await expect(buildApp({ model: served, browserModels: [dir], prepWorkers: 1 })).rejects.toThrow(`${dir} is not a model bundle`);
    await expect(buildApp({ model: served, browserModels: 'x' as unknown as string[] })).rejects.toThrow('Expected a list of bundle folders for browserModels');
    const named = await cli(['serve', '--model', served, '--browser-model', 'no-such-model']);
    expect(named.code).toBe(2);
    expect(named.stderr).toMatch(/"no-such-model" is neither a bundle folder nor a model in the store/);
    const home = path.join(dir, 'home');
    await fs.mkdir(path.join(home, 'models', 'broken'), { recursive: true });
    await fs.writeFile(path.join(home, 'models', 'broken', 'tagger.json'), '{');
    const store = await cli(['serve', '--model', served, '--browser-store', '--port', '0', '--prep-workers', '1'], { env: { TAGBOORU_HOME: home } });
    expect(store.code).not.toBe(0);
    expect(store.stderr).toContain(path.join(home, 'models', 'broken', 'tagger.json'));
    expect((await cli(['serve', '--help'])).stdout).toMatch(/--browser-model[\s\S]*--browser-store/);
  });
});

describe.skipIf(!present)('the model picker in Chromium', () => {
  let browser: Browser, url: string;
  beforeAll(async () => void ({ url, browser } = await openPages(app)));
  afterAll(() => browser?.close());

  const expectLibraryTags = (page: Page, tagger: Tagger) => expectPageTags(page, tagger, sample);


  test('pick the other model: tagged in this browser with it; back: on the server', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => void (/Content Security Policy/.test(m.text()) && errors.push(m.text())));
    await page.goto(url);
    await expect.poll(() => page.isVisible('#model-picker')).toBe(true);
    expect(await page.evaluate(`[...document.querySelectorAll('#model-picker option')].map((o) => o.textContent)`)).toEqual([
      'test_tiny-64-untrained',
      'second-tiny · in this browser only',
    ]);
    await page.setInputFiles('#file', sample);
    await expect.poll(() => page.textContent('#status'), { timeout: 15_000 }).toMatch(/^Tagged on the server/);
    await expectLibraryTags(page, taggers.served);

    await page.selectOption('#model-picker', 'second-tiny');
    await expect.poll(() => page.textContent('#status'), { timeout: 30_000 }).toMatch(/^Tagged in this browser/);
    expect(await page.textContent('#model')).toBe('13 tags · 64×64 · runs in this browser only'); // the picker names it
    expect(await page.isChecked('#local')).toBe(true);
    expect(await page.isDisabled('#local')).toBe(true);
    await expectLibraryTags(page, taggers.other);
    // where the tag is: CAM, made here; the server's methods are not offered for a model it does not run
    expect(await page.evaluate(`[...document.querySelectorAll('#method option:not(:disabled)')].map((o) => o.value)`)).toEqual(['cam']);
    const first = (await shownTags(page))[0]!.name;
    await page.hover(`#tags li.tag[data-tag="${first}"] button.name`);
    await expect.poll(() => page.getAttribute('#heat', 'data-tag'), { timeout: 20_000 }).toBe(first);
    await page.screenshot({ path: path.join(OUT, 'ui-model-picker.png'), fullPage: true });

    await page.selectOption('#model-picker', 'default');
    await expect.poll(() => page.textContent('#status'), { timeout: 15_000 }).toMatch(/^Tagged on the server/);
    expect(await page.isChecked('#local')).toBe(false);
    expect(await page.isDisabled('#local')).toBe(false);
    await expectLibraryTags(page, taggers.served);
    // the other model's sessions were released; this one starts its own in the same runtime
    await page.click('label.switch');
    await expect.poll(() => page.textContent('#status'), { timeout: 30_000 }).toMatch(/^Tagged in this browser/);
    await expectLibraryTags(page, taggers.served);
    expect(errors).toEqual([]);
    await page.close();
  });

  test('phone width: the picker fits', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    await page.goto(url);
    await expect.poll(() => page.isVisible('#model-picker')).toBe(true);
    await page.selectOption('#model-picker', 'second-tiny');
    await expect.poll(() => page.textContent('#model')).toMatch(/runs in this browser only$/);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.screenshot({ path: path.join(OUT, 'ui-model-picker-phone.png') });
    await page.close();
  });

  test('one model: no picker', async () => {
    const single = await buildApp({ model: served, prepWorkers: 1 });
    try {
      const page = await browser.newPage();
      await page.goto(await single.listen({ host: '127.0.0.1', port: 0 }));
      await expect.poll(() => page.textContent('#model')).toContain('test_tiny-64-untrained');
      expect(await page.isHidden('#picker')).toBe(true);
      await page.close();
    } finally {
      await single.close();
    }
  });
});
