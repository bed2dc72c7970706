/**
 * The package as a user installs it. `npm run build` and `npm pack`, then the tarball unpacked into a
 * temporary project outside the repository, beside links to the repository's installed runtime
 * dependencies (what `npm install <tarball>` would fetch; offline, and without tsx or esbuild, which
 * the package must not need), with its bin linked into node_modules/.bin as npm links it. There:
 * plain Node imports `tagbooru`, a strict TypeScript consumer type-checks against every entry point,
 * and `npx tagbooru tag` runs the compiled CLI.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTagger } from '../src/index.ts';

const run = promisify(execFile);
const REPO = path.resolve('.');
const SAMPLE = path.join(REPO, 'samples', 'heldout-1000004.png');
/** The consumer's own tools, as its package.json would list them; not the package's dependencies. */
const CONSUMER_TOOLS = ['@types/node'];
/**
 * What `npm install <tarball>` puts in node_modules besides the package: the repository's lock minus its
 * development packages, hoisted as npm hoists them (nested ones come along inside their parents).
 */
function runtimePackages(): string[] {
  const lock = JSON.parse(fs.readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  return Object.entries(lock.packages)
    .filter(([key, meta]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(key) && !meta.dev)
    .map(([key]) => key.slice('node_modules/'.length))
    .filter((name) => fs.existsSync(path.join(REPO, 'node_modules', name))); // optional packages for other platforms
}

/** The public entry points, each as a consumer imports it. */
const ENTRY_POINTS = ['tagbooru', 'tagbooru/server', 'tagbooru/train', 'tagbooru/import', 'tagbooru/data', 'tagbooru/dataset'];

interface Packed { filename: string; size: number; entryCount: number; files: { path: string }[] }
interface TagOut { file: string; tags: { name: string; score: number }[] }

let tmp: string, project: string, packed: Packed;
const manifest = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { version: string; bin: Record<string, string> };

/** dist/ is reused only when built after every input last changed. */
function buildIsFresh(): boolean {
  const built = path.join(REPO, 'dist', 'index.js');
  if (!fs.existsSync(built)) return false;
  const inputs = ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.ts'].map((f) => path.join(REPO, f));
  for (const entry of fs.readdirSync(path.join(REPO, 'src'), { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) inputs.push(path.join(entry.parentPath, entry.name));
  }
  const builtAt = fs.statSync(built).mtimeMs;
  return inputs.every((f) => fs.statSync(f).mtimeMs < builtAt);
}

function link(name: string): void {
  const target = path.join(project, 'node_modules', name);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.symlinkSync(path.join(REPO, 'node_modules', name), target, 'dir');
}

/** Runs a command in the consumer project, with this Node first on PATH (the bin's `#!/usr/bin/env node`). */
function inProject(command: string, args: string[]) {
  const env = { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`, NODE_OPTIONS: '' };
  return run(command, args, { cwd: project, env, maxBuffer: 1 << 24 });
}

beforeAll(async () => {
  if (!buildIsFresh()) await run('npm', ['run', 'build'], { cwd: REPO });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tagbooru-package-'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: REPO, maxBuffer: 1 << 24 });
  packed = (JSON.parse(stdout) as Packed[])[0]!;
  project = path.join(tmp, 'project');
  fs.mkdirSync(path.join(project, 'node_modules'), { recursive: true });
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await run('tar', ['-xzf', path.join(tmp, packed.filename), '-C', path.join(project, 'node_modules')]);
  fs.renameSync(path.join(project, 'node_modules', 'package'), path.join(project, 'node_modules', 'tagbooru'));
  for (const name of new Set([...runtimePackages(), ...CONSUMER_TOOLS])) link(name);
  fs.mkdirSync(path.join(project, 'node_modules', '.bin'));
  for (const [name, file] of Object.entries(manifest.bin)) {
    fs.chmodSync(path.join(project, 'node_modules', 'tagbooru', file), 0o755);
    fs.symlinkSync(path.join('..', 'tagbooru', file), path.join(project, 'node_modules', '.bin', name));
  }
}, 240_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('the tarball holds the compiled package, its bundled model and its README: no sources, tests, benchmarks or source maps', () => {
  const files = packed.files.map((f) => f.path);
  console.log(`npm pack: ${packed.filename}, ${packed.entryCount} files, ${(packed.size / 1e6).toFixed(2)} MB`);
  for (const f of files) expect(f).toMatch(/^(dist\/.+\.(js|d\.ts|html|css)|bin\/tagbooru\.js|models\/(default|denoiser)\/[^/]+|package\.json|README\.md)$/);
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/worker-boot.js', 'dist/web/app.js', 'dist/web/probe.js', 'dist/web/index.html', 'models/default/model.onnx', 'models/default/tagger.json', 'models/denoiser/denoiser.json']) expect(files).toContain(f);
  // every worker module a compiled file starts is in the package (worker URLs are not rewritten by tsc)
  for (const f of files.filter((x) => x.endsWith('.js'))) {
    const text = fs.readFileSync(path.join(project, 'node_modules', 'tagbooru', f), 'utf8');
    for (const m of text.matchAll(/siblingModule\('\.\/([\w-]+)\.ts'/g)) expect(files, `${f} starts ${m[1]}`).toContain(path.posix.join(path.posix.dirname(f), `${m[1]}.js`));
  }
  // no source map (and so no build path) in the shipped web UI
  for (const f of ['app.js', 'probe.js']) expect(fs.readFileSync(path.join(project, 'node_modules', 'tagbooru', 'dist', 'web', f), 'utf8')).not.toContain('sourceMappingURL');
});

test('the project cannot reach tsx or esbuild, so nothing below runs through them', async () => {
  const probe = 'for (const m of ["tsx", "esbuild"]) { try { await import(m); console.log(m); } catch {} }';
  const { stdout } = await inProject(process.execPath, ['--input-type=module', '-e', probe]);
  expect(stdout).toBe('');
});

test('plain Node imports `tagbooru`, tags with the bundled model as the sources do, explains a tag, and serves the prebuilt web UI', async () => {
  fs.writeFileSync(path.join(project, 'use.mjs'), `
    import { createTagger, DEFAULT_MODEL_DIR } from 'tagbooru';
    import { buildApp } from 'tagbooru/server';
    const tagger = await createTagger(DEFAULT_MODEL_DIR);
    const result = await tagger.tag(process.argv[2]);
    const explained = await tagger.explain(process.argv[2], { tags: ['glasses'], method: 'cam' });
    await tagger.close();
    const app = await buildApp({ model: DEFAULT_MODEL_DIR, prepWorkers: 1 });
    const page = await app.inject('/'), script = await app.inject('/app.js');
    await app.close();
    console.log(JSON.stringify({ result, explained: explained.tags.map((t) => t.name), page: page.statusCode, script: [script.statusCode, script.body.length, script.body.includes('sourceMappingURL')] }));
  `);
  const { stdout } = await inProject(process.execPath, ['use.mjs', SAMPLE]);
  const out = JSON.parse(stdout) as { result: TagOut; explained: string[]; page: number; script: [number, number, boolean] };
  const source = await createTagger(path.join(REPO, 'models', 'default'));
  try {
    const expected = await source.tag(SAMPLE);
    expect(out.result.tags).toEqual(JSON.parse(JSON.stringify(expected.tags)));
    expect(out.result.tags.length).toBeGreaterThan(0);
  } finally {
    await source.close();
  }
  expect(out.explained).toEqual(['glasses']);
  expect(out.page).toBe(200);
  expect(out.script[0]).toBe(200);
  expect(out.script[1]).toBeGreaterThan(1000);
  expect(out.script[2]).toBe(false);
});

test('a strict TypeScript consumer (NodeNext) type-checks against every entry point', async () => {
  fs.writeFileSync(path.join(project, 'consumer.ts'), `
    import { createTagger, DEFAULT_MODEL_DIR, TagbooruError, type TagResult, type Tagger } from 'tagbooru';
    import { buildApp, type ServerOptions } from 'tagbooru/server';
    import { createTrainer, trainProject, type TrainerConfig } from 'tagbooru/train';
    import { importModel, type ImportOptions } from 'tagbooru/import';
    import { TrainingDatabase, type PostRow } from 'tagbooru/data';
    import { makeSyntheticDataset, type SyntheticDatasetOptions } from 'tagbooru/dataset';

    const tagger: Tagger = await createTagger(DEFAULT_MODEL_DIR);
    const result: TagResult = await tagger.tag('image.png', { threshold: 0.35 });
    const names: string[] = result.tags.map((t) => t.name);
    const options: ServerOptions = { model: DEFAULT_MODEL_DIR };
    const app: Promise<{ close(): Promise<unknown> }> = buildApp(options);
    const train: [typeof createTrainer, typeof trainProject] = [createTrainer, trainProject];
    const imported: ReturnType<typeof importModel> = importModel('x.h5', {} satisfies ImportOptions);
    const db: typeof TrainingDatabase = TrainingDatabase;
    const dataset: (dir: string, o: SyntheticDatasetOptions) => Promise<unknown> = makeSyntheticDataset;
    const error: string = new TagbooruError('E_USAGE', 'x').code;
    export type Used = [TrainerConfig, PostRow, typeof names, typeof app, typeof train, typeof imported, typeof db, typeof dataset, typeof error];
  `);
  const tsc = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
  const flags = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--skipLibCheck', 'false'];
  const checked = await inProject(process.execPath, [tsc, ...flags, 'consumer.ts']).then(() => '', (e: { stdout: string }) => e.stdout);
  expect(checked).toBe('');
  expect(ENTRY_POINTS.every((e) => fs.readFileSync(path.join(project, 'consumer.ts'), 'utf8').includes(`from '${e}'`))).toBe(true);
}, 120_000);

test('the tarball\'s bin runs the compiled CLI: `npx tagbooru --version` and `npx tagbooru tag`', async () => {
  expect((await inProject('npx', ['--offline', 'tagbooru', '--version'])).stdout).toBe(`tagbooru ${manifest.version}\n`);
  const { stdout } = await inProject('npx', ['--offline', 'tagbooru', 'tag', SAMPLE, '--format', 'json']);
  const [out] = JSON.parse(stdout) as TagOut[];
  expect(out!.file).toBe(SAMPLE);
  expect(out!.tags.map((t) => t.name)).toContain('glasses');
});
