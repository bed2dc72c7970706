/** The web UI's out-of-distribution notice, in Debian's Chromium: shown for a circuit board, gone for a portrait. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { circuitImage } from '../helpers/circuit.ts';
import { chromiumPresent, servePages, type PageServer } from './_chromium.ts';

const present = chromiumPresent('test/web/ood-notice.test.ts');
let dir: string, served: PageServer;

beforeAll(async () => {
  if (!present) return;
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-web-ood-'));
  served = await servePages({ model: path.resolve('models/default'), prepWorkers: 1 });
});

afterAll(async () => {
  await served?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

test.skipIf(!present)('a foreign image gets a visible notice; the next portrait clears it', async () => {
  const page = await served.browser.newPage();
  await page.goto(served.url);
  await expect.poll(() => page.textContent('#model')).toContain('default-model');
  await page.setInputFiles('#file', await circuitImage(path.join(dir, 'circuit.png')));
  await expect.poll(() => page.textContent('#status'), { timeout: 15_000 }).toMatch(/^Tagged on the server/);
  expect(await page.isVisible('.ood-notice')).toBe(true);
  expect(await page.textContent('.ood-notice')).toMatch(/unlike the images the model was trained on/);
  await page.setInputFiles('#file', path.resolve('samples/heldout-1000002.png'));
  await expect.poll(() => page.locator('.ood-notice').count(), { timeout: 15_000 }).toBe(0);
  await page.close();
}, 60_000);
