/**
 * "Where is the tag?" in Debian's Chromium: a held-out sample tagged by the bundled model, a tag hovered, the
 * heat-map canvas shown over the image with its colour inside the box the API returned, another tag, the
 * keyboard, the method and opacity controls, the in-browser mode's consent, phone width. Screenshots go to
 * test/out/.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ExplainJson } from '../../src/wire.ts';
import { multipart } from '../server/_fixtures.ts';
import { chromiumPresent, OUT, servePages, type PageServer } from './_chromium.ts';

const SAMPLE = 'heldout-1000004.png';
const EXPECTED = (JSON.parse(readFileSync('samples/expected.json', 'utf8')) as Record<string, string[]>)[SAMPLE]!;
/** A true tag of one part of the picture: not the count, nor a background, whose region is the whole frame and which no refinement narrows. */
const isPart = (t: string) => EXPECTED.includes(t) && t !== 'solo' && !t.endsWith('_background');
const present = chromiumPresent('test/web/explain.test.ts');

let served: PageServer, app: FastifyInstance, browser: Browser, url: string;

beforeAll(async () => {
  if (!present) return;
  served = await servePages({ model: 'models/default', prepWorkers: 1 });
  ({ app, browser, url } = served);
});

afterAll(() => served?.close());

const isExplain = (r: Response) => r.url().endsWith('/v1/explain') && r.request().method() === 'POST';

async function tagged(page: Page, file = path.join('samples', SAMPLE)): Promise<string[]> {
  await page.goto(url);
  await expect.poll(() => page.textContent('#model')).toContain('default-model');
  await page.setInputFiles('#file', file);
  await expect.poll(() => page.textContent('#status'), { timeout: 20_000 }).toMatch(/^Tagged /);
  return rowTags(page, '#tags .group:not([data-category="rating"]) li.tag');
}

interface Rect { x: number; y: number; width: number; height: number }
interface Overlay { tag: string | null; hidden: boolean; width: number; height: number; alpha: number[]; canvas: Rect; image: Rect; box: Rect | null }

/** The overlay canvas as the page drew it: its tag, its pixels' alpha, and where it sits on screen. */
function overlay(page: Page): Promise<Overlay> {
  return page.evaluate(`(() => {
    const c = document.getElementById('heat');
    const box = document.getElementById('heat-box');
    const rect = (e) => { const r = e.getBoundingClientRect(); return { x: r.x, y: r.y, width: r.width, height: r.height }; };
    const img = document.getElementById('preview');
    // the picture inside the element: object-fit: contain centres it
    const frame = rect(img), k = Math.min(frame.width / img.naturalWidth, frame.height / img.naturalHeight);
    const picture = { x: frame.x + (frame.width - img.naturalWidth * k) / 2, y: frame.y + (frame.height - img.naturalHeight * k) / 2, width: img.naturalWidth * k, height: img.naturalHeight * k };
    const alpha = Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 3));
    return { tag: c.dataset.tag ?? null, hidden: c.hidden, width: c.width, height: c.height, alpha, canvas: rect(c), image: picture, box: box.hidden ? null : rect(box) };
  })()`);
}

/** The data-tag of every row matching `selector`, in page order. */
const rowTags = (page: Page, selector: string): Promise<string[]> => page.evaluate(`[...document.querySelectorAll(${JSON.stringify(selector)})].map((r) => r.dataset.tag)`);

/** Mean alpha inside and outside the API's box, taken to map pixels. */
function split(o: Overlay, body: ExplainJson, box: readonly number[]) {
  const [sx, sy] = body.scale;
  const [x0, y0, x1, y1] = [Math.floor(box[0]! / sx), Math.floor(box[1]! / sy), Math.ceil(box[2]! / sx), Math.ceil(box[3]! / sy)];
  let inSum = 0, inN = 0, outSum = 0, outN = 0;
  o.alpha.forEach((a, i) => {
    const x = i % o.width, y = Math.floor(i / o.width);
    if (x >= x0 && x < x1 && y >= y0 && y < y1) {
      inSum += a;
      inN++;
    } else {
      outSum += a;
      outN++;
    }
  });
  return { inside: inSum / inN, outside: outN ? outSum / outN : 0 };
}

describe.skipIf(!present)('where is the tag, in Chromium', () => {
  test('hover a tag → its map over the image, coloured inside its box; another tag → another map', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => void (/Content Security Policy/.test(m.text()) && errors.push(m.text()))); // the CSP must let the UI work
    const explains: Response[] = [];
    page.on('response', (r) => void (isExplain(r) && explains.push(r)));
    const shown = await tagged(page);
    const localisable = shown.filter((t) => EXPECTED.includes(t) && t !== 'solo' && !t.endsWith('_background'));
    expect(localisable.length).toBeGreaterThanOrEqual(2);
    const [first, second] = localisable as [string, string];
    expect(await page.isDisabled('#method')).toBe(false);
    expect(await page.textContent('#where-status')).toMatch(/^Hover, focus or select a tag/);

    // hover: one request for every listed tag, then the map of the hovered one
    const [response] = await Promise.all([page.waitForResponse(isExplain), page.hover(`#tags li.tag[data-tag="${first}"] button.name`)]);
    const body = (await response.json()) as ExplainJson;
    expect(new URL(response.url()).pathname).toBe('/v1/explain');
    expect(body.method).toBe('cam');
    expect(body.tags.map((t) => t.name).sort()).toEqual([...shown, ...(await rowTags(page, '#tags .group[data-category="rating"] li.tag'))].sort());
    await expect.poll(async () => (await overlay(page)).tag).toBe(first);
    const a = await overlay(page);
    expect(a.hidden).toBe(false);
    expect([a.width, a.height]).toEqual([body.map.width, body.map.height]);
    const regionA = body.tags.find((t) => t.name === first)!;
    expect(regionA.box).not.toBeNull();
    const inA = split(a, body, regionA.box!);
    expect(inA.inside).toBeGreaterThan(0); // non-transparent where the tag is
    expect(inA.inside).toBeGreaterThan(inA.outside);
    // the canvas covers the image; the box outline sits where the API's box is
    for (const k of ['x', 'y', 'width', 'height'] as const) expect(a.canvas[k]).toBeCloseTo(a.image[k], 0);
    const [bx0, by0, bx1, by1] = regionA.box!;
    expect(a.box!.x).toBeCloseTo(a.image.x + (bx0 / body.width) * a.image.width, 0);
    expect(a.box!.width).toBeCloseTo(((bx1 - bx0) / body.width) * a.image.width, 0);
    expect(a.box!.y).toBeCloseTo(a.image.y + (by0 / body.height) * a.image.height, 0);
    expect(a.box!.height).toBeCloseTo(((by1 - by0) / body.height) * a.image.height, 0);
    await expect.poll(() => page.textContent('#where-status')).toMatch(new RegExp(`^Showing where ${first} is \\(CAM\\): its region spans x \\d+–\\d+, y \\d+–\\d+ of \\d+×\\d+ pixels\\.$`));
    await page.screenshot({ path: path.join(OUT, 'explain-desktop.png'), fullPage: true });

    // another tag: another map, from the cache
    await page.hover(`#tags li.tag[data-tag="${second}"] button.name`);
    await expect.poll(async () => (await overlay(page)).tag).toBe(second);
    const b = await overlay(page);
    expect(b.alpha).not.toEqual(a.alpha);
    const regionB = body.tags.find((t) => t.name === second)!;
    if (regionB.box) expect(split(b, body, regionB.box).inside).toBeGreaterThan(0);
    expect(explains).toHaveLength(1);

    // pointer away: hidden
    await page.mouse.move(5, 5);
    await expect.poll(async () => (await overlay(page)).hidden).toBe(true);

    // keyboard: focus shows, Enter selects (announced), ↓ moves, Esc clears
    await page.focus(`#tags li.tag[data-tag="${first}"] button.name`);
    await expect.poll(async () => (await overlay(page)).tag).toBe(first);
    await page.keyboard.press('Enter');
    expect(await page.getAttribute(`#tags li.tag[data-tag="${first}"] button.name`, 'aria-pressed')).toBe('true');
    await expect.poll(() => page.textContent('#where-status')).toMatch(new RegExp(`^Showing where ${first} is \\(CAM, selected\\)`));
    await page.keyboard.press('ArrowDown');
    const focused = await page.evaluate<string>(`document.activeElement.closest('li.tag').dataset.tag`);
    expect(focused).not.toBe(first);
    await expect.poll(async () => (await overlay(page)).tag).toBe(focused);
    await page.focus('#opacity'); // focus leaves the list: the selected tag stays shown
    await expect.poll(async () => (await overlay(page)).tag).toBe(first);
    const before = (await overlay(page)).alpha;
    await page.keyboard.press('End');
    await expect.poll(async () => Math.max(...(await overlay(page)).alpha)).toBeGreaterThan(Math.max(...before));
    expect(await page.textContent('#opacity-value')).toBe('100%');
    const plainCam = (await overlay(page)).alpha;

    // each refinement: one more request with its refine field, another map of the same tag
    for (const [refine, said] of [['segments', 'over the image\'s regions'], ['guided', 'along the edges']] as const) {
      const [refined] = await Promise.all([page.waitForResponse(isExplain), page.selectOption('#refine', refine)]);
      // the page asked for this refinement: its map of the tag is the one the server gives for it
      const mine = ((await refined.json()) as ExplainJson).tags.find((t) => t.name === first)!.map;
      const asked = multipart([{ name: 'file', value: await fs.readFile(path.join('samples', SAMPLE)), filename: SAMPLE, type: 'image/png' }, { name: 'tags', value: first }, { name: 'refine', value: refine }]);
      expect(mine).toBe((await app.inject({ method: 'POST', url: '/v1/explain', payload: asked.payload, headers: asked.headers })).json<ExplainJson>().tags[0]!.map);
      await expect.poll(() => page.textContent('#where-status')).toMatch(new RegExp(`^Showing where ${first} is \\(CAM ${said}, selected\\)`));
      await expect.poll(async () => (await overlay(page)).alpha).not.toEqual(plainCam);
    }
    await page.selectOption('#refine', 'none');
    await expect.poll(async () => (await overlay(page)).alpha).toEqual(plainCam);

    // another method: one more request, same tags, another map
    const [gradcam] = await Promise.all([page.waitForResponse(isExplain), page.selectOption('#method', 'gradcam')]);
    expect(((await gradcam.json()) as ExplainJson).method).toBe('gradcam');
    await expect.poll(() => page.textContent('#where-status')).toMatch(new RegExp(`^Showing where ${first} is \\(Grad-CAM, selected\\)`));
    await page.focus(`#tags li.tag[data-tag="${first}"] button.name`);
    await page.keyboard.press('Escape');
    await page.focus('#opacity');
    expect(await page.getAttribute(`#tags li.tag[data-tag="${first}"] button.name`, 'aria-pressed')).toBe('false');
    await expect.poll(async () => (await overlay(page)).hidden).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  });

  test('phone width: the overlay fits, nothing is wider than the screen', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, hasTouch: true });
    const shown = await tagged(page);
    const tag = shown.find(isPart)!;
    await page.tap(`#tags li.tag[data-tag="${tag}"] button.name`);
    await expect.poll(async () => (await overlay(page)).tag, { timeout: 20_000 }).toBe(tag);
    const o = await overlay(page);
    expect(o.canvas.x + o.canvas.width).toBeLessThanOrEqual(390);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.locator('#drop').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(OUT, 'explain-phone.png'), fullPage: true });
    await page.close();
  });

  test('in-browser mode: CAM computed here (the server\'s regions); other methods ask before sending the image', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => void (/Content Security Policy/.test(m.text()) && errors.push(m.text()))); // the CSP must let the UI work
    let explains = 0;
    page.on('request', (r) => void (r.url().endsWith('/v1/explain') && explains++));
    await page.goto(url);
    await expect.poll(() => page.textContent('#model')).toContain('default-model');
    await page.click('label.switch');
    await page.setInputFiles('#file', path.join('samples', SAMPLE));
    await expect.poll(() => page.textContent('#status'), { timeout: 30_000 }).toMatch(/^Tagged in this browser/);
    const shown = await rowTags(page, '#tags .group:not([data-category="rating"]) li.tag');
    const tag = shown.find(isPart)!;
    await page.hover(`#tags li.tag[data-tag="${tag}"] button.name`);
    await expect.poll(async () => (await overlay(page)).tag, { timeout: 20_000 }).toBe(tag);
    expect(explains).toBe(0);
    // the box the server finds, within a map pixel (the same image and model; WebAssembly rounds a little differently)
    const { payload, headers } = multipart([{ name: 'file', value: await fs.readFile(path.join('samples', SAMPLE)), filename: SAMPLE, type: 'image/png' }, { name: 'tags', value: tag }]);
    const server = (await app.inject({ method: 'POST', url: '/v1/explain', payload, headers })).json<ExplainJson>();
    const box = server.tags[0]!.box!;
    const said = /spans x (\d+)–(\d+), y (\d+)–(\d+)/.exec((await page.textContent('#where-status'))!)!.slice(1).map(Number);
    [box[0], box[2], box[1], box[3]].forEach((v, i) => expect(Math.abs(said[i]! - Math.round(v))).toBeLessThanOrEqual(Math.ceil(server.scale[0])));

    // each refinement runs here too, and finds the server's refined box
    for (const [refine, said] of [['segments', 'over the image\'s regions'], ['guided', 'along the edges']] as const) {
      await page.selectOption('#refine', refine);
      await page.hover(`#tags li.tag[data-tag="${tag}"] button.name`);
      await expect.poll(() => page.textContent('#where-status'), { timeout: 20_000 }).toMatch(new RegExp(`\\(CAM ${said}\\): its region spans`));
      const asked = multipart([{ name: 'file', value: await fs.readFile(path.join('samples', SAMPLE)), filename: SAMPLE, type: 'image/png' }, { name: 'tags', value: tag }, { name: 'refine', value: refine }]);
      const refinedBox = (await app.inject({ method: 'POST', url: '/v1/explain', payload: asked.payload, headers: asked.headers })).json<ExplainJson>().tags[0]!.box!;
      expect(refinedBox).not.toEqual(box);
      const saidRefined = /spans x (\d+)–(\d+), y (\d+)–(\d+)/.exec((await page.textContent('#where-status'))!)!.slice(1).map(Number);
      [refinedBox[0], refinedBox[2], refinedBox[1], refinedBox[3]].forEach((v, i) => expect(Math.abs(saidRefined[i]! - Math.round(v))).toBeLessThanOrEqual(Math.ceil(server.scale[0])));
    }
    await page.selectOption('#refine', 'none');
    expect(explains).toBe(0);

    // Grad-CAM runs on the server only: nothing is sent until the user says so
    await page.selectOption('#method', 'gradcam');
    await page.hover(`#tags li.tag[data-tag="${tag}"] button.name`);
    await expect.poll(() => page.isVisible('#where-consent')).toBe(true);
    expect(await page.textContent('#where-status')).toMatch(/^Grad-CAM does not run in this browser/);
    expect((await overlay(page)).hidden).toBe(true);
    expect(explains).toBe(0);
    await page.click('#where-consent');
    await expect.poll(async () => (await overlay(page)).tag, { timeout: 20_000 }).toBe(tag);
    expect(await page.getAttribute(`#tags li.tag[data-tag="${tag}"] button.name`, 'aria-pressed')).toBe('true');
    expect(explains).toBe(1);
    expect(errors).toEqual([]);
    await page.close();
  });
});
