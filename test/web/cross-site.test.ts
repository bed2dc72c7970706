/**
 * A hostile page on another origin (a second server on 127.0.0.1) posts a cross-site form to the tagbooru's
 * `POST /evaluate?format=html`, as any web page can to a server on the visitor's machine. The upload's
 * Content-Type and file name carry markup; in Debian's Chromium, none of it may run as script in the
 * tagbooru's origin, and the page must come with the Content-Security-Policy that would stop it if it did.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../src/server/app.ts';
import { noiseImage } from '../helpers/images.ts';
import { makeBundle } from '../server/_fixtures.ts';
import { chromiumPresent, launchChromium } from './_chromium.ts';

const present = chromiumPresent('test/web/cross-site.test.ts');

/**
 * Each payload, if it ever runs, sets the title and says so on the console. Lower case, without spaces or `;`:
 * Chromium lowercases a File's type, and busboy passes such a Content-Type through untouched.
 */
const run = (mark: string) => `document.title='${mark}',console.log('${mark}')`;
const TYPE = `image/png"><script>${run('xss-type')}</script>`;
const FILENAME = `<img src=x onerror=${run('xss-name')}>.png`;

let dir: string, app: FastifyInstance, browser: Browser, hostile: http.Server, tagbooru: string, attacker: string;

/** A string as a script literal inside HTML: `</script>` in it must not end the attacker's own script. */
const literal = (s: string) => JSON.stringify(s).replace(/</g, '\\u003c');

/** The attacker's page: a form aimed at the tagbooru, a File whose type and name it chose, submitted on load. */
function attackPage(png: Buffer): string {
  return `<!doctype html><title>attacker</title><body>
<form id="f" method="post" enctype="multipart/form-data" action="${tagbooru}/evaluate?format=html"><input id="i" type="file" name="file"></form>
<script>
  const bytes = Uint8Array.from(atob('${png.toString('base64')}'), (c) => c.charCodeAt(0));
  const files = new DataTransfer();
  files.items.add(new File([bytes], ${literal(FILENAME)}, { type: ${literal(TYPE)} }));
  document.getElementById('i').files = files.files;
  document.getElementById('f').submit();
</script></body>`;
}

beforeAll(async () => {
  if (!present) return;
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-xss-'));
  app = await buildApp({ model: await makeBundle(dir), prepWorkers: 1 });
  tagbooru = await app.listen({ host: '127.0.0.1', port: 0 });
  const png = await fs.readFile(await noiseImage(path.join(dir, 'a.png'), 48, 40, 3));
  hostile = http.createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(attackPage(png)));
  await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
  attacker = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}/`;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => (hostile ? hostile.close(resolve) : resolve(undefined)));
  await app?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe.skipIf(!present)('a cross-site form against /evaluate', () => {
  test('runs no script in the tagbooru origin; the page carries the CSP', async () => {
    const page = await browser.newPage();
    const messages: string[] = [];
    page.on('console', (m) => messages.push(m.text()));
    const answered = page.waitForResponse((r) => r.url().startsWith(`${tagbooru}/evaluate`), { timeout: 30_000 });
    await page.goto(attacker);
    const response = await answered;
    await page.waitForLoadState('load');

    expect(response.status()).toBe(200);
    expect(page.url()).toBe(`${tagbooru}/evaluate?format=html`);
    expect(messages.filter((m) => m.startsWith('xss-'))).toEqual([]);
    expect(await page.title()).toBe('Tags');
    expect(await response.headerValue('content-security-policy')).toMatch(/script-src 'self'/);
    expect(await response.headerValue('x-content-type-options')).toBe('nosniff');
    // the file name is shown as text; the image's media type is the decoder's, not the forged one
    expect(await page.textContent('h2')).toBe(FILENAME);
    expect(await page.getAttribute('img', 'src')).toMatch(/^data:image\/png;base64,/);
    expect(await page.locator('script').count()).toBe(0);

    // and were markup ever to slip through, the policy stops inline script: Chromium refuses this one
    await page.evaluate(`{ const s = document.createElement('script'); s.textContent = "${run('xss-inline')}"; document.body.append(s); }`);
    await expect.poll(() => messages.some((m) => /Content Security Policy/.test(m))).toBe(true);
    expect(await page.title()).toBe('Tags');
    expect(messages.filter((m) => m.startsWith('xss-'))).toEqual([]);
    await page.close();
  });
});
