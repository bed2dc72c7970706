/** The web UI's out-of-distribution notice, in Debian's Chromium: shown for a circuit board, gone for a portrait. */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildApp } from '../../src/server/app.ts';
import { circuitImage } from '../helpers/circuit.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const present = existsSync(CHROMIUM);
let dir: string, app: FastifyInstance, browser: Browser, url: string;

beforeAll(async () => {
  if (!present) return;
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-web-ood-'));
  app = await buildApp({ model: path.resolve('models/default'), prepWorkers: 1 });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

test.skipIf(!present)('a foreign image gets a visible notice; the next portrait clears it', async () => {
  const page = await browser.newPage();
  await page.goto(url);
  await expect.poll(() => page.textContent('#model')).toContain('default-model');
  await page.setInputFiles('#file', await circuitImage(path.join(dir, 'circuit.png')));
  await expect.poll(() => page.textContent('#status'), { timeout: 15_000 }).toMatch(/^Tagged on the server/);
  expect(await page.isVisible('.ood-notice')).toBe(true);
  expect(await page.textContent('.ood-notice')).toMatch(/unlike the images the model was trained on/);
  await page.setInputFiles('#file', path.resolve('samples/heldout-1000002.png'));
  await expect.poll(() => page.locator('.ood-notice').count(), { timeout: 15_000 }).toBe(0);
  await page.close();
}, 60_000);
