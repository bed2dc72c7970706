/** Debian's Chromium, driven by playwright-core, for the browser tests; where it is missing they are skipped, saying so. */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { expect } from 'vitest';
import type { Tagger } from '../../src/index.ts';
import { buildApp, type ServerOptions } from '../../src/server/app.ts';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** Where the browser tests leave their screenshots. */
export const OUT = path.resolve('test/out');

/** Whether Chromium is here; when not, a warning names the skipped test file. */
export function chromiumPresent(file: string): boolean {
  const present = existsSync(CHROMIUM);
  if (!present) console.warn(`${file}: skipped, ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)`);
  return present;
}

export const launchChromium = (): Promise<Browser> => chromium.launch({ executablePath: CHROMIUM, args: ARGS });

export interface PageServer {
  readonly app: FastifyInstance;
  readonly url: string;
  readonly browser: Browser;
  close(): Promise<void>;
}

/** A built app listening on 127.0.0.1 and Chromium to open it, for a test file's beforeAll; screenshots' folder made. */
export async function openPages(app: FastifyInstance): Promise<{ url: string; browser: Browser }> {
  await fs.mkdir(OUT, { recursive: true });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url, browser: await launchChromium() };
}

/** openPages on a server with the web UI built from `options`; close() ends both. */
export async function servePages(options: ServerOptions): Promise<PageServer> {
  const app = await buildApp(options);
  const { url, browser } = await openPages(app);
  return { app, url, browser, close: async () => void (await Promise.all([browser.close(), app.close()])) };
}

/** The non-rating tags on the page, in page order, with their exact scores. */
export const shownTags = (page: Page) => page.evaluate<{ name: string; score: number }[]>(`[...document.querySelectorAll('#tags .group:not([data-category="rating"]) li.tag')]
  .map((li) => ({ name: li.dataset.tag, score: Number(li.dataset.score) }))`);

/** The page shows the library's tags for `image` (its non-rating ones), with its scores. */
export async function expectPageTags(page: Page, tagger: Tagger, image: string): Promise<void> {
  const expected = (await tagger.tag(image)).tags;
  await expect.poll(async () => (await shownTags(page)).map((t) => t.name).sort()).toEqual(expected.map((t) => t.name).sort());
  const scores = new Map((await shownTags(page)).map((t) => [t.name, t.score]));
  for (const t of expected) expect(scores.get(t.name)).toBeCloseTo(t.score, 5);
}
