/**
 * The web UI in Debian's Chromium, driven by playwright-core: upload, see the tags the library gives, move a
 * slider, switch to in-browser inference and get the same tags. Screenshots go to test/out/.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTagger, type Tagger } from '../../src/index.ts';
import { buildApp } from '../../src/server/app.ts';
import sharp from 'sharp';
import { makeBundle } from '../server/_fixtures.ts';
import { chromiumPresent, launchChromium, OUT } from './_chromium.ts';

/** A drawn portrait, so the screenshots show something a person would upload. */
const PORTRAIT = `<svg xmlns="http://www.w3.org/2000/svg" width="300" height="420">
  <rect width="300" height="420" fill="#f3f3f4"/><ellipse cx="150" cy="170" rx="80" ry="82" fill="#f1d3b0"/>
  <path d="M60 330 C70 150 90 95 150 92 C210 95 230 150 240 330 L222 330 C215 210 205 150 150 140 C95 150 85 210 78 330 Z" fill="#2b1b17"/>
  <circle cx="122" cy="170" r="9" fill="#2f5fae"/><circle cx="178" cy="170" r="9" fill="#2f5fae"/>
  <path d="M125 215 Q150 232 175 215" stroke="#a0443a" stroke-width="4" fill="none"/><path d="M55 420 Q150 300 245 420 Z" fill="#3a6ea5"/>
</svg>`;
const present = chromiumPresent('test/web/ui.test.ts');

let dir: string, app: FastifyInstance, oracle: Tagger, browser: Browser, url: string, SAMPLE: string;

beforeAll(async () => {
  if (!present) return;
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-web-'));
  await fs.mkdir(OUT, { recursive: true });
  const bundle = await makeBundle(dir);
  // one calibrated per-tag threshold, as trained bundles carry: the page must honour it until a slider moves
  const manifestFile = path.join(bundle, 'tagger.json');
  const manifest = JSON.parse(await fs.readFile(manifestFile, 'utf8')) as { thresholds: Record<string, unknown> };
  manifest.thresholds.tags = { smile: 0.05 };
  await fs.writeFile(manifestFile, JSON.stringify(manifest));
  SAMPLE = path.join(dir, 'portrait.png');
  await sharp(Buffer.from(PORTRAIT)).png().toFile(SAMPLE);
  app = await buildApp({ model: bundle, prepWorkers: 1 });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
  oracle = await createTagger(bundle);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await oracle?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** What the library selects at the page's settings (none moved: the bundle's own): non-rating tag names, highest first. */
async function expectedTags(general?: number, character?: number): Promise<string[]> {
  return (await selected(general, character)).map((t) => t.name);
}

async function selected(general?: number, character?: number) {
  const categoryThresholds = { ...(general !== undefined && { general }), ...(character !== undefined && { character }) };
  return (await oracle.tag(SAMPLE, { categoryThresholds })).tags;
}

/** The tags on the page, outside the rating group, in page order, with their exact scores. */
function shownTags(page: Page) {
  return rows(page, '#tags .group:not([data-category="rating"]) li.tag');
}

function ratings(page: Page) {
  return rows(page, '#tags .group[data-category="rating"] li.tag');
}

async function rows(page: Page, selector: string): Promise<{ name: string; score: number }[]> {
  const found = await page.locator(selector).all();
  return Promise.all(found.map(async (row) => ({ name: (await row.getAttribute('data-tag'))!, score: Number(await row.getAttribute('data-score')) })));
}

const names = (tags: { name: string }[]) => tags.map((t) => t.name);
const attributes = async (page: Page, selector: string, name: string) => Promise.all((await page.locator(selector).all()).map((e) => e.getAttribute(name)));
const byCategoryOrder = (page: Page) => attributes(page, '#tags .group', 'data-category');

describe.skipIf(!present)('web UI in Chromium', () => {
  test('upload → tags; slider → new list; in-browser mode → the same tags', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => void (m.type() === 'error' && !m.text().startsWith('Failed to load resource') && errors.push(m.text())));
    page.on('response', (r) => void (r.status() >= 400 && errors.push(`${r.status()} ${r.url()}`)));
    await page.goto(url);
    await expect.poll(() => page.textContent('#model')).toContain('test_tiny-64-untrained');

    // keyboard: the first Tab lands on the file picker
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.id')).toBe('file');

    await page.setInputFiles('#file', SAMPLE);
    await expect.poll(() => page.textContent('#status'), { timeout: 15_000 }).toMatch(/^Tagged on the server in \d+ ms\.$/);
    const atDefaults = await expectedTags();
    expect(atDefaults).toContain('smile'); // below the general 0.5, above its own 0.05
    // the slider shows the threshold of the tags without their own, and the note counts those with one
    expect(await page.textContent('#general-value')).toBe('0.50');
    expect(await page.textContent('#character-value')).toBe('0.60');
    expect(await page.textContent('#threshold-note')).toBe('Per-tag thresholds: 1 of 6 general tags has its own, from the model (0.05); the others use 0.50. Moving a slider sets one threshold for all the tags of its category.');
    expect(await page.isDisabled('#reset')).toBe(true);
    expect(names(await shownTags(page)).sort()).toEqual([...atDefaults].sort());
    // groups: rating first, then characters, copyrights, …, general
    const categories = new Set((await selected()).map((t) => t.category));
    expect(await byCategoryOrder(page)).toEqual(['rating', ...['character', 'copyright', 'artist', 'general', 'meta'].filter((c) => categories.has(c))]);
    expect(await page.locator('#tags .group[data-category="rating"] li.tag.chosen').count()).toBe(1);
    expect(await page.inputValue('#caption')).toBe(atDefaults.map((t) => t.replace(/_/g, ' ')).join(', ')); // score order, as the CLI writes it
    await page.screenshot({ path: path.join(OUT, 'ui-desktop-server.png'), fullPage: true });

    // copy as caption, and the JSON download
    await page.click('#copy');
    await expect.poll(() => page.textContent('#status')).toBe('Caption copied.');
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(await page.inputValue('#caption'));
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expect(download.suggestedFilename()).toBe('portrait.tags.json');
    const saved = JSON.parse(await fs.readFile((await download.path()), 'utf8')) as { file: string; mode: string; tags: { name: string }[]; rating: { name: string } };
    expect(saved).toMatchObject({ file: 'portrait.png', model: 'test_tiny-64-untrained', mode: 'server', thresholds: { general: 0.5, character: 0.6, tags: { smile: 0.05 } } });
    expect(saved.tags.map((t) => t.name)).toEqual(atDefaults);

    // the keyboard moves the sliders: general to Home (0.01) and nine steps up to 0.10, character to Home
    await page.focus('#general');
    await page.keyboard.press('Home');
    for (let i = 0; i < 9; i++) await page.keyboard.press('ArrowRight');
    expect(await page.textContent('#general-value')).toBe('0.10');
    expect(await page.isHidden('#threshold-note')).toBe(true); // one threshold for every general tag now
    await page.focus('#character');
    await page.keyboard.press('Home');
    expect(await page.textContent('#character-value')).toBe('0.01');
    const lower = await expectedTags(0.1, 0.01);
    expect(lower.length).toBeGreaterThan(atDefaults.length);
    await expect.poll(async () => names(await shownTags(page)).sort()).toEqual([...lower].sort());
    const server = await shownTags(page);
    const serverRatings = await ratings(page);
    expect(serverRatings).toHaveLength(4);

    // MCut re-selects without a request, and disables the sliders it overrides
    await page.check('#mcut');
    expect(await page.isDisabled('#general')).toBe(true);
    const mcut = (await oracle.tag(SAMPLE, { mcut: true })).tags.map((t) => t.name);
    await expect.poll(async () => names(await shownTags(page)).sort()).toEqual([...mcut].sort());
    await page.uncheck('#mcut');

    // the same image, tagged in the browser: the same tags with the same scores
    await page.click('label.switch');
    expect(await page.isChecked('#local')).toBe(true);
    await expect.poll(() => page.textContent('#status'), { timeout: 30_000 }).toMatch(/^Tagged in this browser in \d+ ms \(WebAssembly, \d+ threads?\)\.$/);
    expect(await page.evaluate('crossOriginIsolated')).toBe(true); // so onnxruntime-web may use threads
    const local = await shownTags(page);
    expect(names(local)).toEqual(names(server));
    for (const [i, t] of local.entries()) expect(t.score).toBeCloseTo(server[i]!.score, 5);
    const localRatings = await ratings(page);
    expect(localRatings.map((r) => r.name)).toEqual(serverRatings.map((r) => r.name));
    for (const [i, r] of localRatings.entries()) expect(r.score).toBeCloseTo(serverRatings[i]!.score, 5);
    await page.screenshot({ path: path.join(OUT, 'ui-desktop-browser.png'), fullPage: true });
    // and back: the server answers again; "Model defaults" restores the bundle's thresholds
    await page.click('label.switch');
    await expect.poll(() => page.textContent('#status'), { timeout: 15_000 }).toMatch(/on the server/);
    await page.click('#reset');
    expect(await page.textContent('#general-value')).toBe('0.50');
    expect(await page.isVisible('#threshold-note')).toBe(true);
    await expect.poll(async () => names(await shownTags(page)).sort()).toEqual([...atDefaults].sort());
    expect(errors).toEqual([]);
    await context.close();
  });

  test('drop or paste an image; phone width', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    await page.goto(url);
    await expect.poll(() => page.textContent('#model')).toContain('test_tiny');
    const b64 = (await fs.readFile(SAMPLE)).toString('base64');
    const transfer = await page.evaluateHandle(`(() => {
      const bytes = Uint8Array.from(atob(${JSON.stringify(b64)}), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
      return dt;
    })()`);
    await page.dispatchEvent('#drop', 'drop', { dataTransfer: transfer });
    await expect.poll(() => page.textContent('#status'), { timeout: 15_000 }).toMatch(/^Tagged on the server/);
    expect(names(await shownTags(page)).sort()).toEqual((await expectedTags()).sort());
    expect(await page.getAttribute('#preview', 'alt')).toBe('Preview of dropped.png');
    // nothing wider than the screen
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.screenshot({ path: path.join(OUT, 'ui-phone.png'), fullPage: true });

    // a pasted image replaces it
    await page.evaluate(`(() => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(Uint8Array.from(atob(${JSON.stringify(b64)}), (c) => c.charCodeAt(0)))], 'image.png', { type: 'image/png' }));
      document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt }));
    })()`);
    await expect.poll(() => page.getAttribute('#preview', 'alt')).toBe('Preview of image.png');
    await expect.poll(() => page.textContent('#status'), { timeout: 15_000 }).toMatch(/^Tagged on the server/);
    await page.close();
  });

  test('a server with API keys: the page asks for one, then works', async () => {
    const key = 'page-key-0123';
    const locked = await buildApp({ model: path.join(dir, 'bundle'), prepWorkers: 1, apiKeys: [key] });
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
      await page.goto(await locked.listen({ host: '127.0.0.1', port: 0 }));
      await page.waitForSelector('#key-form:not([hidden])');
      expect(await page.evaluate('document.activeElement.id')).toBe('key');
      await expect.poll(() => page.textContent('#status')).toMatch(/^an API key is required .*\(E_AUTH\)$/);
      await page.fill('#key', key);
      await page.keyboard.press('Enter');
      await expect.poll(() => page.textContent('#model')).toContain('test_tiny-64-untrained');
      expect(await page.isHidden('#key-form')).toBe(true);
      await page.setInputFiles('#file', SAMPLE);
      await expect.poll(() => page.textContent('#status'), { timeout: 15_000 }).toMatch(/^Tagged on the server/);
      await page.close();
    } finally {
      await locked.close();
    }
  });
});
