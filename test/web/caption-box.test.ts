/**
 * The web UI's caption box in Debian's Chromium (playwright-core): the caption options change the caption as the
 * CLI's flags change a caption file, a bad value is marked and named, and the settings outlive a reload.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTagger, type TagResult } from '../../src/index.ts';
import { makeBundle } from '../server/_fixtures.ts';
import { chromiumPresent, servePages, type PageServer } from './_chromium.ts';

const present = chromiumPresent('test/web/caption-box.test.ts');

let dir: string, served: PageServer, sample: string, tagged: TagResult;

beforeAll(async () => {
  if (!present) return;
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-caption-box-'));
  const bundle = await makeBundle(dir);
  // every tag over a low threshold, so the caption has characters, a copyright and `star_(sky)` to arrange
  const manifestFile = path.join(bundle, 'tagger.json');
  const manifest = JSON.parse(await fs.readFile(manifestFile, 'utf8')) as { thresholds: unknown };
  manifest.thresholds = { default: 0.01 };
  await fs.writeFile(manifestFile, JSON.stringify(manifest));
  sample = path.join(dir, 'sample.png');
  await sharp({ create: { width: 80, height: 96, channels: 3, background: { r: 200, g: 120, b: 40 } } }).png().toFile(sample);
  const oracle = await createTagger(bundle);
  tagged = await oracle.tag(sample);
  await oracle.close();
  served = await servePages({ model: bundle, prepWorkers: 1 });
});

afterAll(async () => {
  await served?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe.skipIf(!present)('caption box in Chromium', () => {
  test('separator, character-first, replacements, max tags and escaping; a bad value named; kept across a reload', async () => {
    const names = (category: string) => tagged.tags.filter((t) => t.category === category).map((t) => t.name);
    expect(names('character')).toHaveLength(2);
    expect(names('general')).toContain('star_(sky)');
    const spaced = (t: string) => t.replace(/_/g, ' ');

    const context = await served.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(served.url);
    await expect.poll(() => page.textContent('#model')).toContain('test_tiny');
    await page.setInputFiles('#file', sample);
    await expect.poll(() => page.textContent('#status'), { timeout: 15_000 }).toMatch(/^Tagged on the server/);
    // untouched, the box writes what it always did: spaces for underscores, ", ", score order
    expect(await page.inputValue('#caption')).toBe(tagged.tags.map((t) => spaced(t.name)).join(', '));

    await page.click('.caption-options summary');
    await page.fill('#caption-separator', ' | ');
    await page.check('#caption-character-first');
    await page.check('#caption-escape');
    await page.fill('#caption-replace', 'vocaloid=, star_\\(sky\\)=night sky');
    await page.fill('#caption-max-tags', '3');
    // by hand: the characters, then the three best general tags, `star_(sky)` renamed, the copyright dropped
    const general = names('general').slice(0, 3).map((t) => (t === 'star_(sky)' ? 'night sky' : t));
    const want = [...names('character'), ...general].map((t) => spaced(t).replace(/([()])/g, '\\$1')).join(' | ');
    await expect.poll(() => page.inputValue('#caption')).toBe(want);

    // escaping on a toggle, as the WD demo does; an emptied field is its default again
    await page.fill('#caption-max-tags', '');
    await page.fill('#caption-replace', '');
    await expect.poll(() => page.inputValue('#caption')).toContain('star \\(sky\\)');
    await page.uncheck('#caption-escape');
    await expect.poll(() => page.inputValue('#caption')).toContain('star (sky)');

    // a bad value: marked, named as the API names it, the last good caption kept
    await page.fill('#caption-replace', 'vocaloid=, star_\\(sky\\)=night sky');
    await page.fill('#caption-max-tags', '3');
    await page.check('#caption-escape');
    await expect.poll(() => page.inputValue('#caption')).toBe(want);
    await page.fill('#caption-replace', 'vocaloid');
    await expect.poll(() => page.textContent('#caption-error')).toBe('Expected from=to (\\, and \\= for a literal comma or equals sign) for replace but received "vocaloid"');
    expect(await page.getAttribute('#caption-replace', 'aria-invalid')).toBe('true');
    expect(await page.inputValue('#caption')).toBe(want);
    await page.fill('#caption-replace', 'vocaloid=, star_\\(sky\\)=night sky');
    await expect.poll(() => page.isHidden('#caption-error')).toBe(true);
    expect(await page.getAttribute('#caption-replace', 'aria-invalid')).toBeNull();

    // a reload keeps the settings (localStorage): the same image gets the same caption
    await page.reload();
    await expect.poll(() => page.textContent('#model')).toContain('test_tiny');
    expect(await page.inputValue('#caption-separator')).toBe(' | ');
    expect(await page.isChecked('#caption-character-first')).toBe(true);
    await page.setInputFiles('#file', sample);
    await expect.poll(() => page.textContent('#status'), { timeout: 15_000 }).toMatch(/^Tagged on the server/);
    expect(await page.inputValue('#caption')).toBe(want);
    expect(errors).toEqual([]);
    await context.close();
  });
});
