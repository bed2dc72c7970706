/**
 * `tagbooru pull` against a stub hub on 127.0.0.1 that serves a tiny real WD model with the hub's URL
 * layout: the known-models table, layout detection for other repos, redirects to a CDN on another origin
 * (the token must not follow), resume with Range after a cut transfer, 401 without a token, 404, 5xx then
 * success, a checksum mismatch, a GitHub release zip, and `tag --model <known name>` suggesting pull.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pullModel } from '../../src/import/pull.ts';
import type { KnownModels } from '../../src/import/known-models.ts';
import { exportInference } from '../../src/models/export.ts';
import { buildModel } from '../../src/models/registry.ts';
import { cli } from '../helpers/cli.ts';
import { noiseImage } from '../helpers/images.ts';
import { startHub, type HubFault, type StubHub, type StubHubOptions } from './_hub.ts';
import { randomWeights } from './_fixtures.ts';
import { writeZip } from './_zip.ts';

const ROWS: [string, number][] = [['general', 9], ['sensitive', 9], ['questionable', 9], ['explicit', 9], ['1girl', 0], ['solo', 0], ['smile', 0], ['hatsune_miku', 4]];
const CSV = Buffer.from(`${['tag_id,name,category,count', ...ROWS.map(([n, c], i) => `${i},${n},${c},${100 - i}`)].join('\n')}\n`);
let MODEL: Uint8Array;
let tmp: string, image: string, hub: StubHub | undefined, homes = 0;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A WD repo's two files at `/<repo>/resolve/<rev>/`. */
function wdRepo(repo: string, rev = 'main'): [string, Uint8Array][] {
  return [[`/${repo}/resolve/${rev}/model.onnx`, MODEL], [`/${repo}/resolve/${rev}/selected_tags.csv`, CSV]];
}

async function serve(files: [string, Uint8Array][], o: Omit<StubHubOptions, 'files'> = {}): Promise<StubHub> {
  hub = await startHub({ files: new Map(files), ...o });
  return hub;
}

/** A fresh store per test; backoff of 1 ms so retries cost nothing. */
function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { TAGBOORU_HOME: path.join(tmp, `home-${++homes}`), TAGBOORU_HUB_URL: hub!.url, TAGBOORU_HTTP_BACKOFF_MS: '1', ...extra };
}

const gets = (h: StubHub, p: string) => h.requests.filter((r) => r.method === 'GET' && r.path === p);

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-pull-'));
  const spec = buildModel('test_tiny', { tags: ROWS.length, imageSize: [32, 32] });
  MODEL = exportInference(spec, randomWeights(spec, 21, 0.01), { inputName: 'input', outputName: 'output' });
  image = await noiseImage(path.join(tmp, 'a.png'), 40, 30, 1);
});
afterEach(async () => {
  await hub?.close();
  hub = undefined;
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('pull', () => {
  it('a known name: downloads through a CDN redirect (the token stays with the hub), imports, and `tag --model` uses it', async () => {
    const h = await serve(wdRepo('SmilingWolf/wd-vit-tagger-v3'), { redirectToCdn: true });
    const e = env({ HF_TOKEN: 'hf_secret' });
    const r = await cli(['pull', 'wd-vit-tagger-v3'], { env: e });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch('pulled SmilingWolf/wd-vit-tagger-v3@main → wd-vit-tagger-v3 (wd): 8 tags (4 rating, 3 general, 1 character), 32×32, preset wd');
    expect(r.stdout).toMatch('tag with: tagbooru tag --model wd-vit-tagger-v3');
    const hubGets = h.requests.filter((q) => q.server === 'hub');
    const cdnGets = h.requests.filter((q) => q.server === 'cdn');
    expect(hubGets.map((q) => q.path).sort()).toEqual(['/SmilingWolf/wd-vit-tagger-v3/resolve/main/model.onnx', '/SmilingWolf/wd-vit-tagger-v3/resolve/main/selected_tags.csv']);
    expect(hubGets.every((q) => q.authorization === 'Bearer hf_secret')).toBe(true);
    expect(cdnGets).toHaveLength(2);
    expect(cdnGets.every((q) => q.authorization === undefined)).toBe(true);
    const bundle = path.join(e.TAGBOORU_HOME!, 'models', 'wd-vit-tagger-v3');
    expect(sha256(await fs.readFile(path.join(bundle, 'model.onnx')))).toBe(sha256(MODEL));
    expect(existsSync(path.join(e.TAGBOORU_HOME!, 'downloads', 'wd-vit-tagger-v3'))).toBe(false);
    const info = await cli(['info', 'wd-vit-tagger-v3', '--json'], { env: e });
    expect((JSON.parse(info.stdout) as { provenance: object }).provenance).toMatchObject({ source: `${h.url}/SmilingWolf/wd-vit-tagger-v3`, revision: 'main', importedBy: 'tagbooru pull', format: 'wd' });

    const tagged = await cli(['tag', image, '--model', 'wd-vit-tagger-v3', '-f', 'jsonl'], { env: e });
    expect(tagged.stderr).toBe('');
    expect(tagged.code).toBe(0);
    expect(JSON.parse(tagged.stdout) as { rating: { name: string } }).toMatchObject({ rating: { name: expect.stringMatching(/^(general|sensitive|questionable|explicit)$/) as unknown } });

    const again = await cli(['pull', 'wd-vit-tagger-v3'], { env: e });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch('the store already has a model named "wd-vit-tagger-v3"; pass --force');
    expect(h.requests.filter((q) => q.server === 'hub')).toHaveLength(2);
    const forced = await cli(['pull', 'wd-vit-tagger-v3', '--force'], { env: e });
    expect(forced.code).toBe(0);
  });

  it('another repo: the layout is found with HEAD requests; a transfer cut half-way resumes with Range', async () => {
    const file = '/someone/tiny-tagger/resolve/v2/model.onnx';
    const faults: HubFault[] = [{ path: file, times: 1, reply: 'cut' }];
    const h = await serve(wdRepo('someone/tiny-tagger', 'v2'), { faults, redirectToCdn: true });
    const e = env();
    const r = await cli(['pull', 'someone/tiny-tagger@v2', '--name', 'tiny'], { env: e });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/retrying: GET http:\/\/127\.0\.0\.1:\d+\/someone\/tiny-tagger\/resolve\/v2\/model\.onnx: .*retry 1\/4/);
    // the hub's redirect to the CDN answers a HEAD: signed CDN URLs need not accept HEAD
    expect(h.requests.filter((q) => q.method === 'HEAD').map((q) => `${q.server} ${q.path}`)).toEqual(['hub /someone/tiny-tagger/resolve/v2/selected_tags.csv']);
    const [first, second] = gets(h, file).filter((q) => q.server === 'cdn');
    expect(first!.range).toBeUndefined();
    expect(second!.range).toBe(`bytes=${Math.floor(MODEL.length / 2)}-`);
    expect(sha256(await fs.readFile(path.join(e.TAGBOORU_HOME!, 'models', 'tiny', 'model.onnx')))).toBe(sha256(MODEL));
  });

  it('a truncated transfer that runs out of retries keeps its part; the next run resumes it', async () => {
    const file = '/someone/tiny-tagger/resolve/main/model.onnx';
    const h = await serve(wdRepo('someone/tiny-tagger'), { faults: [{ path: file, times: 1, reply: 'cut' }] });
    const e = env();
    const dest = path.join(tmp, 'kept');
    await expect(pullModel('someone/tiny-tagger', { retries: 0, dest }, e)).rejects.toThrow(
      /(the transfer ended at|network error).*; the \d+ bytes received are kept in .*kept\/model\.onnx\.part: run the same command again to resume/,
    );
    const half = Math.floor(MODEL.length / 2);
    expect((await fs.stat(path.join(dest, 'model.onnx.part'))).size).toBe(half);
    const result = await pullModel('someone/tiny-tagger', { retries: 0, dest }, e);
    expect(gets(h, file).at(-1)!.range).toBe(`bytes=${half}-`);
    expect(sha256(await fs.readFile(path.join(result.dir, 'model.onnx')))).toBe(sha256(MODEL));
    expect(result.downloads).toBe(dest);
    expect((await fs.readdir(dest)).sort()).toEqual(['model.onnx', 'selected_tags.csv']);
  });

  it('a server that gzips for clients that accept it: the client asks for the bytes as stored', async () => {
    const h = await serve(wdRepo('someone/tiny-tagger'), { gzip: true });
    const r = await cli(['pull', 'someone/tiny-tagger', '--hub-url', h.url], { env: { ...env(), TAGBOORU_HUB_URL: 'http://127.0.0.1:9/unused' } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(h.requests.filter((q) => q.method === 'GET')).toHaveLength(2);
  });

  it('a body that falls silent is abandoned after the stall time and resumed', async () => {
    const file = '/someone/tiny-tagger/resolve/main/model.onnx';
    const h = await serve(wdRepo('someone/tiny-tagger'), { faults: [{ path: file, times: 1, reply: 'stall' }] });
    const retries: string[] = [];
    const result = await pullModel('someone/tiny-tagger', { stallMs: 300, backoffMs: 1, onRetry: (m) => retries.push(m) }, env());
    expect(retries).toEqual([expect.stringMatching(/model\.onnx: nothing received for 0\.3 s after \d+ bytes; retry 1\/4/)]);
    expect(gets(h, file).map((q) => q.range)).toEqual([undefined, `bytes=${Math.floor(MODEL.length / 2)}-`]);
    expect(sha256(await fs.readFile(path.join(result.dir, 'model.onnx')))).toBe(sha256(MODEL));
  });

  it('a gated repo: 401 without a token says to set HF_TOKEN; with the token it downloads', async () => {
    await serve(wdRepo('gated/tiny-tagger'), { gated: ['/gated/'], token: 'hf_right' });
    const denied = await cli(['pull', 'gated/tiny-tagger'], { env: env() });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch('answered HTTP 401 with "Access to this model is restricted. You must have access to it and be authenticated."');
    expect(denied.stderr).toMatch('gated/tiny-tagger may be gated or private: accept its terms on the hub, then set HF_TOKEN (or TAGBOORU_HUB_TOKEN)');
    const wrong = await cli(['pull', 'gated/tiny-tagger'], { env: env({ TAGBOORU_HUB_TOKEN: 'hf_wrong' }) });
    expect(wrong.stderr).toMatch('The hub refused the token for gated/tiny-tagger');
    const ok = await cli(['pull', 'gated/tiny-tagger'], { env: env({ HF_TOKEN: 'hf_right' }) });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
  });

  it('404 names the repo, the file and the revision; a repo with no known label file says what was tried', async () => {
    await serve([['/SmilingWolf/wd-convnext-tagger-v3/resolve/main/selected_tags.csv', CSV]]);
    const r = await cli(['pull', 'wd-convnext-tagger-v3'], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch('No model.onnx in SmilingWolf/wd-convnext-tagger-v3 at revision "main": check the repo name, the revision and the file');
    const none = await cli(['pull', 'nobody/nothing'], { env: env() });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch('nobody/nothing@main has none of the label files tagbooru can import (selected_tags.csv, top_tags.txt, nothing-metadata.json, model_initial_metadata.json)');
    const badUrl = await cli(['pull', 'joytag', '--hub-url', 'ftp://mirror'], { env: env() });
    expect(badUrl.stderr).toMatch('Expected an http or https URL for --hub-url but received "ftp://mirror"');
    // checked before any request: the token must not cross the network in clear text
    await expect(pullModel('someone/x', { hubUrl: 'http://mirror.example', token: 'hf_secret' }, env())).rejects.toThrow('mirror.example is plain http: the hub token would travel unencrypted');
    const unknown = await cli(['pull', 'wd-nonexistent'], { env: env() });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown model "wd-nonexistent"\. Known: wd-eva02-large-tagger-v3, .*joytag.*; or give a hub repo as owner\/name\[@revision\]/);
  });

  it('5xx is retried with backoff, then succeeds; a server that keeps failing gives up after the retries', async () => {
    const csv = '/someone/tiny-tagger/resolve/main/selected_tags.csv';
    const h = await serve(wdRepo('someone/tiny-tagger'), { faults: [{ path: csv, times: 2, reply: { status: 503 } }] });
    const r = await cli(['pull', 'someone/tiny-tagger'], { env: env() });
    expect(r.code).toBe(0);
    expect(gets(h, csv)).toHaveLength(3);
    expect(r.stderr.match(/retrying: .*answered HTTP 503/g)).toHaveLength(2);
    await h.close();
    const model = '/someone/tiny-tagger/resolve/main/model.onnx';
    const h2 = await serve(wdRepo('someone/tiny-tagger'), { faults: [{ path: model, times: 99, reply: { status: 500 } }] });
    await expect(pullModel('someone/tiny-tagger', { retries: 2, backoffMs: 1 }, env())).rejects.toThrow(/model\.onnx answered HTTP 500 with "stub fault 500" \(3 attempts\)/);
    expect(gets(h2, model)).toHaveLength(3);
  });

  it('a checksum mismatch deletes the download and says so', async () => {
    await serve(wdRepo('someone/tiny-tagger'));
    const catalog: KnownModels = {
      tiny: { host: 'hub', repo: 'someone/tiny-tagger', revision: 'main', format: 'wd', summary: 'test', files: [{ name: 'model.onnx', bytes: MODEL.length, sha256: '0'.repeat(64) }, { name: 'selected_tags.csv' }] },
    };
    const dest = path.join(tmp, 'mismatch');
    await expect(pullModel('tiny', { catalog, dest }, env())).rejects.toThrow(`sha256 ${sha256(MODEL)} does not match the expected ${'0'.repeat(64)}; the download was deleted`);
    expect(await fs.readdir(dest)).toEqual([]);
    const right: KnownModels = { tiny: { ...catalog.tiny!, files: [{ name: 'model.onnx', bytes: MODEL.length, sha256: sha256(MODEL) }, { name: 'selected_tags.csv', bytes: CSV.length }] } };
    expect((await pullModel('tiny', { catalog: right, dest }, env())).name).toBe('tiny');
  });

  it('a GitHub release asset (a zip) at <github>/<repo>/releases/download/<tag>/<file>', async () => {
    const zip = path.join(tmp, 'release.zip');
    await writeZip(zip, [{ name: 'tiny/model.onnx', data: MODEL }, { name: 'tiny/selected_tags.csv', data: CSV }]);
    const h = await serve([['/owner/tagger/releases/download/v1-test/tagger-v1-test.zip', await fs.readFile(zip)]]);
    const catalog: KnownModels = { 'tagger-v1': { host: 'github', repo: 'owner/tagger', revision: 'v1-test', format: 'wd', summary: 'test', files: [{ name: 'tagger-v1-test.zip' }] } };
    const result = await pullModel('tagger-v1', { catalog, githubUrl: h.url, token: 'hf_secret' }, env());
    expect([result.name, result.format, result.manifest.tags.length]).toEqual(['tagger-v1', 'wd', ROWS.length]);
    // the hub token is for the hub: a release host never sees it
    expect(h.requests[0]!.authorization).toBeUndefined();
  });
});

describe('tag --model <known name> not in the store', () => {
  it('suggests `tagbooru pull <name>`', async () => {
    const r = await cli(['tag', image, '--model', 'wd-eva02-large-tagger-v3'], { env: { TAGBOORU_HOME: path.join(tmp, 'empty-home') } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch('It is a model tagbooru knows: download and import it with `tagbooru pull wd-eva02-large-tagger-v3`');
    const other = await cli(['tag', image, '--model', 'no-such-model'], { env: { TAGBOORU_HOME: path.join(tmp, 'empty-home') } });
    expect(other.stderr).toMatch('The store is empty: add a model with `tagbooru import <path>` or `tagbooru pull <name>`');
    expect(other.stderr).not.toMatch('It is a model tagbooru knows');
  });
});
