/**
 * The page on a phone (390×844, touch) with the bundled model, whose scores saturate and whose every tag has
 * its own threshold: a tag tapped far down the list shows its map on an image that is on the screen; the
 * sliders show numbers and say that per-tag thresholds apply; saturated scores keep their digits. Screenshots go
 * to test/out/.
 */
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { barFraction } from '../../src/web/score-scale.ts';
import { chromiumPresent, OUT, servePages, type PageServer } from './_chromium.ts';

const PHONE = { width: 390, height: 844 };
/** The held-out sample with the most tags above the floor, so the list runs well past the image. */
const SAMPLE = path.join('samples', 'heldout-1000004.png');
const present = chromiumPresent('test/web/phone.test.ts');

let served: PageServer, browser: Browser, url: string;

beforeAll(async () => {
  if (!present) return;
  served = await servePages({ model: 'models/default', prepWorkers: 1 });
  ({ browser, url } = served);
});

afterAll(() => served?.close());

interface Rect { top: number; bottom: number; left: number; right: number }

const rect = (page: Page, selector: string): Promise<Rect> => page.evaluate(`(() => {
  const r = document.querySelector(${JSON.stringify(selector)}).getBoundingClientRect();
  return { top: r.top, bottom: r.bottom, left: r.left, right: r.right };
})()`);

async function phone(): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: PHONE, deviceScaleFactor: 2, hasTouch: true, isMobile: true });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => void (/Content Security Policy/.test(m.text()) && errors.push(m.text())));
  await page.goto(url);
  await expect.poll(() => page.textContent('#model')).toContain('default-model');
  await page.setInputFiles('#file', SAMPLE);
  await expect.poll(() => page.textContent('#status'), { timeout: 20_000 }).toMatch(/^Tagged on the server/);
  return { page, errors };
}

describe.skipIf(!present)('the web UI on a phone', () => {
  test('a tag tapped down the list shows its map on an image that is on the screen', async () => {
    const { page, errors } = await phone();
    const last = page.locator('#tags li.tag button.name').last();
    const tag = (await last.locator('xpath=..').getAttribute('data-tag'))!;
    // the user scrolls down to the tag, as a thumb would, then taps it
    await page.evaluate(`[...document.querySelectorAll('#tags li.tag button.name')].at(-1).scrollIntoView({ block: 'end' })`);
    expect(await page.evaluate('scrollY')).toBeGreaterThan(0);
    await last.tap();
    await expect.poll(() => page.getAttribute('#heat', 'data-tag'), { timeout: 20_000 }).toBe(tag);
    expect(await last.getAttribute('aria-pressed')).toBe('true');

    // the whole picture and its overlay on the screen, and the tapped tag not hidden under them
    const image = await rect(page, '#preview');
    expect(image.top).toBeGreaterThanOrEqual(0);
    expect(image.bottom).toBeLessThanOrEqual(PHONE.height);
    expect(image.bottom - image.top).toBeGreaterThan(100);
    const heat = await rect(page, '#heat');
    expect(heat.top).toBeGreaterThanOrEqual(image.top - 1);
    expect(heat.bottom).toBeLessThanOrEqual(image.bottom + 1);
    const button = await rect(page, `#tags li.tag[data-tag="${tag}"] button.name`);
    const hit = await page.evaluate(`document.elementFromPoint(${(button.left + button.right) / 2}, ${(button.top + button.bottom) / 2})?.closest('li.tag')?.dataset.tag`);
    expect(hit).toBe(tag);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(PHONE.width);
    await page.screenshot({ path: path.join(OUT, 'ui-phone-tapped.png') });
    expect(errors).toEqual([]);
    await page.close();
  });

  test('the sliders show numbers and say where the model\'s per-tag thresholds apply', async () => {
    const { page } = await phone();
    // every tag of the bundled model has its own threshold; the slider shows the one the others would use
    expect(await page.textContent('#general-value')).toBe('0.50');
    expect(await page.isVisible('#threshold-note')).toBe(true);
    expect(await page.textContent('#threshold-note')).toMatch(/^Per-tag thresholds: every general tag \(\d+\) has its own, from the model \(0\.\d\d–0\.\d\d\)\. Moving a slider/);
    await page.focus('#general');
    await page.keyboard.press('ArrowLeft');
    expect(await page.textContent('#general-value')).toBe('0.49');
    expect(await page.isHidden('#threshold-note')).toBe(true);
    await page.click('#reset');
    expect(await page.textContent('#general-value')).toBe('0.50');
    expect(await page.isVisible('#threshold-note')).toBe(true);
    await page.check('#mcut'); // MCut overrides the bundle's per-tag thresholds
    expect(await page.isHidden('#threshold-note')).toBe(true);
    await page.close();
  });

  test('saturated scores keep their digits, and their bars differ', async () => {
    const { page } = await phone();
    const rows = await page.evaluate<{ score: number; label: string; bar: number }[]>(`[...document.querySelectorAll('#tags li.tag')].map((li) => ({
      score: Number(li.dataset.score),
      label: li.querySelector('.score').lastChild.textContent,
      bar: li.querySelector('.bar span').getBoundingClientRect().width, // the fill
    }))`);
    const saturated = rows.filter((r) => r.score >= 0.99 && r.score < 1);
    expect(saturated.length).toBeGreaterThanOrEqual(3);
    for (const r of saturated) {
      expect(r.label).not.toBe('1.00');
      expect(Number(r.label)).toBeLessThanOrEqual(r.score);
      expect(r.score - Number(r.label)).toBeLessThan(1 - Number(r.label)); // the label is within the digit it shows
    }
    expect(new Set(saturated.map((r) => r.label)).size).toBe(saturated.length);
    // higher scores, longer bars; each bar is its score on the page's scale (linear, then counting nines), so
    // the saturated ones differ and none is full, however close to 1 this model's scores come
    const sorted = [...rows].sort((a, b) => a.score - b.score);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.bar).toBeGreaterThanOrEqual(sorted[i - 1]!.bar);
    const full = await page.evaluate<number>(`document.querySelector('#tags li.tag .bar').getBoundingClientRect().width`);
    for (const r of rows) expect(Math.abs(r.bar - full * barFraction(r.score)), `${r.score}`).toBeLessThan(1);
    const widths = saturated.map((r) => r.bar);
    expect(Math.max(...widths)).toBeLessThan(full - 1);
    expect(await page.textContent('#tags .legend')).toMatch(/^Bars are linear up to 0\.99; above it, each further 9/);
    await page.close();
  });
});
