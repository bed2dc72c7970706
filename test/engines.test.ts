/**
 * The Node version the README and package.json promise is one every locked dependency accepts, so `npm ci`
 * on that Node neither warns nor (with `.npmrc`'s engine-strict) fails; `npm test` needs the development
 * packages too, so they count.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { expect, test } from 'vitest';

// semver is in the tree already (sharp's dependency); its ranges are npm's own
const semver = createRequire(import.meta.url)('semver') as {
  minVersion(range: string): { version: string } | null;
  satisfies(version: string, range: string): boolean;
};

const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(fs.readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { version?: string; engines?: { node?: string } | string[]; optional?: boolean }> };
const oldest = semver.minVersion(pkg.engines.node)!.version;

test('every locked package runs on the oldest Node that package.json allows', () => {
  const refusing = Object.entries(lock.packages)
    .filter(([key, p]) => key !== '' && p.engines && !Array.isArray(p.engines) && p.engines.node)
    .filter(([, p]) => !semver.satisfies(oldest, (p.engines as { node: string }).node))
    .map(([key, p]) => `${key.replace(/^.*node_modules\//, '')}@${p.version} needs node ${(p.engines as { node: string }).node}`);
  expect(refusing, `package.json says node ${pkg.engines.node}`).toEqual([]);
  expect(lock.packages['']!.engines).toEqual(pkg.engines);
});

test('the README states that version, and npm ci checks it', () => {
  const [major, minor] = oldest.split('.');
  expect(fs.readFileSync('README.md', 'utf8')).toMatch(`**Node.js ${major}.${minor} or newer**`);
  expect(fs.readFileSync('.npmrc', 'utf8')).toMatch(/^engine-strict=true$/m);
  expect(semver.satisfies(process.versions.node, pkg.engines.node)).toBe(true);
});
