/**
 * The web UI's script served from the sources (a checkout) carries an inline source map for debugging;
 * its paths must not reveal where tagbooru lies on disk, whatever directory the server was started in.
 * (The built package ships no map at all: test/package.test.ts.)
 */
import os from 'node:os';
import path from 'node:path';
import { expect, test } from 'vitest';
import { DEFAULT_MODEL_DIR } from '../../src/package.ts';
import { buildApp } from '../../src/server/app.ts';

test('/app.js from the sources names its modules relative to src/web, not by their place on disk', async () => {
  // modules from node_modules (re2js, which the page's selection runs) are named relatively too
  const repo = process.cwd();
  process.chdir(os.tmpdir()); // `tagbooru serve` started elsewhere: paths relative to the cwd would climb to the install
  const app = await buildApp({ model: DEFAULT_MODEL_DIR, workers: 1, prepWorkers: 1 });
  try {
    const script = (await app.inject('/app.js')).body;
    const encoded = /sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)/.exec(script)?.[1];
    expect(encoded).toBeDefined();
    const map = Buffer.from(encoded!, 'base64').toString();
    const { sources, sourceRoot } = JSON.parse(map) as { sources: string[]; sourceRoot?: string };
    expect(sources).toContain('main.ts');
    expect(sourceRoot ?? '').toBe('');
    for (const s of sources) expect(!path.isAbsolute(s) && path.resolve(repo, 'src/web', s).startsWith(repo + path.sep), s).toBe(true);
    expect(map).not.toContain(repo.slice(1));
  } finally {
    await app.close();
    process.chdir(repo);
  }
});
