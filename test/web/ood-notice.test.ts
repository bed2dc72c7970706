/** The web UI's out-of-distribution notice, in Debian's Chromium: shown for a circuit board, gone for a portrait, in both modes. */
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

test.skipIf(!present)('in-browser mode: the graph with the score in it flags the circuit board as the server does, and not the portrait', async () => {
  const page = await served.browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const models: string[] = [];
  page.on('request', (r) => void (/\/v1\/models\/.+\.onnx$/.test(r.url()) && models.push(new URL(r.url()).pathname)));
  let tagged = 0;
  page.on('request', (r) => void (r.url().endsWith('/v1/tag') && tagged++));
  await page.goto(served.url);
  await expect.poll(() => page.textContent('#model')).toContain('default-model');
  await page.click('label.switch');
  const board = await circuitImage(path.join(dir, 'circuit.png'));
  await page.setInputFiles('#file', board);
  await expect.poll(() => page.textContent('#status'), { timeout: 30_000 }).toMatch(/^Tagged in this browser/);
  expect(await page.isVisible('.ood-notice')).toBe(true);
  const shown = /out-of-distribution score ([\d.]+) above ([\d.]+)/.exec((await page.textContent('.ood-notice'))!)!;
  // the server's own verdict on the same file: the same score to the notice's one decimal, the same threshold
  const form = new FormData();
  form.append('file', new Blob([await fs.readFile(board)], { type: 'image/png' }), 'circuit.png');
  const server = (await (await fetch(`${served.url}/v1/tag`, { method: 'POST', body: form })).json()) as { results: { ood: { score: number; threshold: number } }[] };
  const { score, threshold } = server.results[0]!.ood;
  expect([Number(shown[1]), Number(shown[2])]).toEqual([Number(score.toFixed(1)), Number(threshold.toFixed(1))]);
  await page.setInputFiles('#file', path.resolve('samples/heldout-1000002.png'));
  await expect.poll(() => page.locator('.ood-notice').count(), { timeout: 15_000 }).toBe(0);
  await expect.poll(() => page.textContent('#status'), { timeout: 30_000 }).toMatch(/^Tagged in this browser/);
  expect(models).toEqual(['/v1/models/default/model-ood.onnx']);
  expect(tagged).toBe(0); // nothing was sent to the server by the page
  expect(errors).toEqual([]);
  await page.close();
}, 90_000);
