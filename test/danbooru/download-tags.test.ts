/** `tagbooru download-tags` against a stub Danbooru on 127.0.0.1. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { startStub, type Fault, type Stub, type StubOptions, type StubRelation, type StubTag } from './_stub.ts';

const G = 0, A = 1, C = 3, CH = 4;
const t = (name: string, post_count: number, category: number): StubTag => ({ name, post_count, category });

/** Every rule in one small site: gold tags, tags below the minimum, and names natural sort must order. */
const SMALL: StubTag[] = [
  t('1girl', 5000, G), t('solo', 4000, G), t('long_hair', 3000, G), t('10girls', 900, G), t('2girls', 950, G), t('6+girls', 800, G),
  t('hair_ornament', 600, G), t('hair_bow', 600, G), t(':3', 800, G), t(':d', 1500, G), t('>_<', 700, G), t('^_^', 650, G),
  t('loli', 4500, G), t('shota', 700, G), t('toddlercon', 600, G), t('below_min', 499, G), t('tiny', 10, G),
  t('hatsune_miku', 3000, CH), t('kagamine_rin', 1200, CH), t('character_2', 800, CH), t('character_10', 800, CH), t('character_1', 900, CH), t('minor_character', 100, CH),
  t('some_artist', 700, A), t('touhou', 6000, C), t('vocaloid', 5000, C),
];
// python3: natural_sorted(...) from deepdanbooru/extra
const GENERAL = ['1girl', '2girls', '6+girls', '10girls', ':3', ':d', '>_<', '^_^', 'hair_bow', 'hair_ornament', 'long_hair', 'solo'];
const CHARACTER = ['character_1', 'character_2', 'character_10', 'hatsune_miku', 'kagamine_rin'];
const RATINGS_4 = ['rating:general', 'rating:sensitive', 'rating:questionable', 'rating:explicit'];

/** 2,600 general tags with counts 3000…401, so 2,501 reach 500; `loli` (gold) sits among them. */
const MANY: StubTag[] = [...Array.from({ length: 2600 }, (_, i) => t(`tag_${i}`, 3000 - i, G)), t('loli', 2000, G), t('hatsune_miku', 3000, CH)];
const manyNames = (n: number) => Array.from({ length: n }, (_, i) => `tag_${i}`);

const FAST = { TAGBOORU_HTTP_BACKOFF_MS: '1' };

let stub: Stub | undefined, tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-dl-'));
});
afterEach(async () => {
  await stub?.close();
  stub = undefined;
  await fs.rm(tmp, { recursive: true, force: true });
});

async function serve(options: StubOptions): Promise<Stub> {
  stub = await startStub(options);
  return stub;
}

function download(dir: string, args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  return cli(['download-tags', dir, '--base-url', stub!.url, ...args], { env: { ...FAST, ...env } });
}

const read = (dir: string, name: string) => fs.readFile(path.join(dir, name), 'utf8');
const lines = (xs: readonly string[]) => xs.map((x) => `${x}\n`).join('');

describe('download-tags files', () => {
  it("writes the original's five files, byte for byte", async () => {
    await serve({ tags: SMALL });
    const dir = path.join(tmp, 'project');
    const r = await download(dir);
    expect(r.stderr).not.toContain('retrying');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('12 general, 5 character, 4 system tags');
    expect(await read(dir, 'tags-general.txt')).toBe(lines(GENERAL));
    expect(await read(dir, 'tags-character.txt')).toBe(lines(CHARACTER));
    expect(await read(dir, 'tags.txt')).toBe(lines([...GENERAL, ...CHARACTER, ...RATINGS_4]));
    expect(await read(dir, 'categories.json')).toBe(
      '[\n    {\n        "name": "General",\n        "start_index": 0\n    },\n    {\n        "name": "Character",\n        "start_index": 12\n    },\n    {\n        "name": "System",\n        "start_index": 17\n    }\n]',
    );
    expect(await read(dir, 'tags_log.json')).toMatch(/^\{\n {4}"date": "\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d",\n {4}"limit": 10000,\n {4}"minimum_post_count": 500\n\}$/);
    expect((await fs.readdir(dir)).sort()).toEqual(['categories.json', 'tags-character.txt', 'tags-general.txt', 'tags.txt', 'tags_log.json']);
  });

  it('asks like the original: limit=1000, page, count order, category, and a post-count filter', async () => {
    const s = await serve({ tags: SMALL });
    expect((await download(path.join(tmp, 'p'), ['--minimum-post-count', '650'])).code).toBe(0);
    const first = s.requests[0]!;
    expect(first.endpoint).toBe('tags.json');
    expect(Object.fromEntries(first.query)).toEqual({ limit: '1000', page: '1', 'search[order]': 'count', 'search[category]': '0', 'search[post_count]': '>=650' });
    expect(first.headers['user-agent']).toBe('tagbooru/0.1.0');
    expect(first.headers.authorization).toBeUndefined();
    expect(s.requests.map((r) => r.query.get('search[category]'))).toEqual(['0', '0', '4', '4']);
    // ^_^ (650) reaches the minimum; hair_bow and hair_ornament (600) do not
    expect(await read(path.join(tmp, 'p'), 'tags-general.txt')).toBe(lines(GENERAL.filter((x) => !x.startsWith('hair_'))));
  });

  it('orders opt-in categories as the original lists them, with matching start indices', async () => {
    await serve({ tags: SMALL });
    const dir = path.join(tmp, 'p');
    expect((await download(dir, ['--categories', 'character,copyright', '--categories', 'general,artist'])).code).toBe(0);
    expect(await read(dir, 'tags-artist.txt')).toBe('some_artist\n');
    expect(await read(dir, 'tags-copyright.txt')).toBe('touhou\nvocaloid\n');
    expect(JSON.parse(await read(dir, 'categories.json'))).toEqual([
      { name: 'General', start_index: 0 },
      { name: 'Artist', start_index: 12 },
      { name: 'Copyright', start_index: 13 },
      { name: 'Character', start_index: 15 },
      { name: 'System', start_index: 20 },
    ]);
    expect(await read(dir, 'tags.txt')).toBe(lines([...GENERAL, 'some_artist', 'touhou', 'vocaloid', ...CHARACTER, ...RATINGS_4]));
  });

  it('writes the pre-2022 rating tags with --rating-scheme 3', async () => {
    await serve({ tags: SMALL });
    const dir = path.join(tmp, 'p');
    expect((await download(dir, ['--rating-scheme', '3'])).code).toBe(0);
    expect(await read(dir, 'tags.txt')).toBe(lines([...GENERAL, ...CHARACTER, 'rating:safe', 'rating:questionable', 'rating:explicit']));
    expect(JSON.parse(await read(dir, 'categories.json'))).toContainEqual({ name: 'System', start_index: 17 });
  });

  it('leaves out a category without tags, as the original does', async () => {
    await serve({ tags: SMALL.filter((x) => x.category === G) });
    const dir = path.join(tmp, 'p');
    expect((await download(dir)).code).toBe(0);
    expect(await fs.readdir(dir)).not.toContain('tags-character.txt');
    expect(JSON.parse(await read(dir, 'categories.json'))).toEqual([{ name: 'General', start_index: 0 }, { name: 'System', start_index: 12 }]);
  });

  it('fails and writes nothing when no tag reaches the minimum', async () => {
    await serve({ tags: SMALL });
    const dir = path.join(tmp, 'p');
    const r = await download(dir, ['--minimum-post-count', '1000000']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no general, character tags with at least 1000000 posts');
    await expect(fs.stat(dir)).rejects.toThrow();
  });
});

describe('download-tags paging', () => {
  it('pages until the server runs out of tags above the minimum', async () => {
    const s = await serve({ tags: MANY });
    const dir = path.join(tmp, 'p');
    expect((await download(dir)).code).toBe(0);
    expect(s.pages('tags.json', G)).toEqual(['1', '2', '3', '4']); // 2,502 rows with loli, then an empty page
    expect(await read(dir, 'tags-general.txt')).toBe(lines(manyNames(2501)));
  });

  it('stops at the first tag below the minimum when the site does not filter by post count', async () => {
    const s = await serve({ tags: MANY, ignorePostCount: true });
    const dir = path.join(tmp, 'p');
    expect((await download(dir)).code).toBe(0);
    expect(s.pages('tags.json', G)).toEqual(['1', '2', '3']);
    expect(await read(dir, 'tags-general.txt')).toBe(lines(manyNames(2501)));
  });

  it('keeps --limit tags per category, not counting gold-only tags', async () => {
    const s = await serve({ tags: MANY });
    const dir = path.join(tmp, 'p');
    expect((await download(dir, ['--limit', '1500'])).code).toBe(0);
    expect(s.pages('tags.json', G)).toEqual(['1', '2']);
    expect(await read(dir, 'tags-general.txt')).toBe(lines(manyNames(1500)));
    expect(await read(dir, 'tags-character.txt')).toBe('hatsune_miku\n');
    expect(JSON.parse(await read(dir, 'tags_log.json'))).toMatchObject({ limit: 1500, minimum_post_count: 500 });
  });

  it('serves a Danbooru-compatible site under a path prefix', async () => {
    const s = await serve({ tags: SMALL, prefix: '/booru' });
    expect((await download(path.join(tmp, 'p'))).code).toBe(0);
    expect(s.requests.every((r) => r.endpoint === 'tags.json')).toBe(true);
  });
});

describe('download-tags failures and retries', () => {
  const fault = (f: Omit<Fault, 'endpoint'> & { endpoint?: string }): Fault => ({ endpoint: 'tags.json', ...f });

  it('retries a 502 HTML page, then says what the server sent and writes nothing', async () => {
    const s = await serve({ tags: MANY, faults: [fault({ page: '2', times: 100, reply: 'html502' })] });
    const dir = path.join(tmp, 'p');
    const r = await download(dir, ['--retries', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tags\.json\?limit=1000&page=2.* failed: HTTP 502 with an HTML page: "502 Bad Gateway" \(3 attempts\)/);
    expect(s.pages('tags.json', G)).toEqual(['1', '2', '2', '2']);
    await expect(fs.stat(dir)).rejects.toThrow();
  });

  it('recovers from a transient 502 and 500', async () => {
    const s = await serve({ tags: SMALL, faults: [fault({ page: '1', times: 1, reply: 'html502' }), fault({ page: '2', times: 1, reply: 'json500' })] });
    const r = await download(path.join(tmp, 'p'));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('retrying: GET');
    expect(r.stderr).toContain('HTTP 500 with "PG::QueryCanceled: The database timed out running your query."');
    expect(s.pages('tags.json', G)).toEqual(['1', '1', '2', '2']);
  });

  it('waits as long as a 429 Retry-After asks, then carries on', async () => {
    const s = await serve({ tags: SMALL, faults: [fault({ page: '1', times: 1, reply: 'rate429', retryAfter: '1' })] });
    const r = await download(path.join(tmp, 'p'));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('HTTP 429');
    const [a, b] = s.requests;
    expect(b!.at - a!.at).toBeGreaterThanOrEqual(950); // the backoff alone would be 1 ms
  });

  it('fails at once when Retry-After is longer than it will wait', async () => {
    const s = await serve({ tags: SMALL, faults: [fault({ times: 1, reply: 'rate429', retryAfter: '86400' })] });
    const r = await download(path.join(tmp, 'p'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the server asks to wait 86400 s, try again later');
    expect(s.requests).toHaveLength(1);
  });

  it('times out a slow page and retries it', async () => {
    const s = await serve({ tags: MANY, faults: [fault({ page: '2', times: 1, reply: 'slow', delayMs: 3000 })] });
    const started = performance.now();
    const r = await download(path.join(tmp, 'p'), ['--timeout', '0.3']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('no complete response within 0.3 s');
    expect(s.pages('tags.json', G)).toEqual(['1', '2', '2', '3', '4']);
    expect(performance.now() - started).toBeLessThan(2500);
  });

  it('does not retry a 401 and never prints the key', async () => {
    const s = await serve({ tags: SMALL, faults: [fault({ times: 1, reply: 'json401' })] });
    const r = await download(path.join(tmp, 'p'), ['--username', 'alice', '--api-key', 'k3y-s3cret']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('HTTP 401 with "SessionLoader::AuthenticationFailure: Invalid API key". Check --username and --api-key');
    expect(r.stderr + r.stdout).not.toContain('k3y-s3cret');
    expect(s.requests).toHaveLength(1);
  });

  it('names a network error after its retries', async () => {
    const s = await serve({ tags: SMALL });
    const url = s.url;
    await s.close();
    stub = undefined;
    const r = await cli(['download-tags', path.join(tmp, 'p'), '--base-url', url, '--retries', '1'], { env: FAST });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/network error: ECONNREFUSED \(2 attempts\)/);
  });
});

describe('download-tags credentials and options', () => {
  const basic = (user: string, key: string) => `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}`;

  it('sends --username and --api-key by HTTP basic auth, not in the URL', async () => {
    const s = await serve({ tags: SMALL });
    expect((await download(path.join(tmp, 'p'), ['--username', 'alice', '--api-key', 'k3y'])).code).toBe(0);
    for (const r of s.requests) {
      expect(r.headers.authorization).toBe(basic('alice', 'k3y'));
      expect(r.headers['user-agent']).toBe('tagbooru/0.1.0');
      expect([...r.query.keys()]).not.toContain('api_key');
    }
  });

  it('reads DANBOORU_USERNAME and DANBOORU_API_KEY', async () => {
    const s = await serve({ tags: SMALL });
    expect((await download(path.join(tmp, 'p'), [], { DANBOORU_USERNAME: 'bob', DANBOORU_API_KEY: 'env-key' })).code).toBe(0);
    expect(s.requests[0]!.headers.authorization).toBe(basic('bob', 'env-key'));
  });

  it.each([
    [['--username', 'alice'], 'give both --username and --api-key, or neither'],
    [['--limit', '0'], 'Expected an integer between 1 and 1000000 for --limit but received "0"'],
    [['--minimum-post-count', 'many'], 'for --minimum-post-count but received "many"'],
    [['--rating-scheme', '5'], 'Expected one of 4, 3 for --rating-scheme but received "5"'],
    [['--categories', 'general,meta'], 'Expected one of general, artist, copyright, character for --categories but received "meta"'],
    [['--timeout', '0'], 'for --timeout but received "0"'],
    [['--retries=-1'], 'for --retries but received "-1"'],
  ])('rejects %j before any request', async (args, message) => {
    const s = await serve({ tags: SMALL });
    const r = await download(path.join(tmp, 'p'), args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(s.requests).toHaveLength(0);
  });

  it.each([['ftp://example.invalid/'], ['not a url'], ['https://user:pass@example.invalid/']])('rejects --base-url %s before any request', async (url) => {
    const r = await cli(['download-tags', path.join(tmp, 'p'), '--base-url', url], { env: FAST });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--base-url');
  });

  it('refuses to replace tags.txt without --overwrite, before any request', async () => {
    const s = await serve({ tags: SMALL });
    await fs.writeFile(path.join(tmp, 'tags.txt'), 'old\n');
    const r = await download(tmp);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`Tags file already exists: ${path.join(tmp, 'tags.txt')}. Pass --overwrite`);
    expect(s.requests).toHaveLength(0);
    expect(await read(tmp, 'tags.txt')).toBe('old\n');

    expect((await download(tmp, ['--overwrite'])).code).toBe(0);
    expect(await read(tmp, 'tags.txt')).toBe(lines([...GENERAL, ...CHARACTER, ...RATINGS_4]));
  });
});

describe('download-tags --with-relations', () => {
  const kept = new Set([...GENERAL, ...CHARACTER]);
  const targets = [...kept, 'tiny', 'loli', 'touhou'];
  // 1,800 aliases over two pages of active ones; every seventh is deleted, every eleventh retired
  const aliases: StubRelation[] = Array.from({ length: 1800 }, (_, i) => ({
    id: i + 1,
    antecedent_name: `old_name_${i}`,
    consequent_name: targets[i % targets.length]!,
    status: i % 7 === 0 ? 'deleted' : i % 11 === 0 ? 'retired' : 'active',
  }));
  const implications: StubRelation[] = [
    { id: 5, antecedent_name: 'hair_bow', consequent_name: 'hair_ornament', status: 'active' },
    { id: 3, antecedent_name: 'hatsune_miku', consequent_name: 'vocaloid', status: 'active' }, // vocaloid not kept
    { id: 9, antecedent_name: 'solo', consequent_name: 'tiny', status: 'active' }, // tiny is below the minimum
    { id: 2, antecedent_name: '2girls', consequent_name: '1girl', status: 'deleted' },
    { id: 7, antecedent_name: 'character_10', consequent_name: 'character_1', status: 'active' },
  ];

  it('saves active aliases onto kept tags and implications between kept tags, by id', async () => {
    const s = await serve({ tags: SMALL, aliases, implications });
    const dir = path.join(tmp, 'p');
    const r = await download(dir, ['--with-relations']);
    expect(r.code).toBe(0);
    const savedAliases = JSON.parse(await read(dir, 'tag_aliases.json')) as StubRelation[];
    const expected = aliases.filter((a) => a.status === 'active' && kept.has(a.consequent_name)).map((a) => a.id);
    expect(savedAliases.map((a) => a.id)).toEqual(expected);
    expect(savedAliases[0]).toMatchObject({ antecedent_name: `old_name_${expected[0]! - 1}`, status: 'active', creator_id: 1 });
    const savedImplications = JSON.parse(await read(dir, 'tag_implications.json')) as StubRelation[];
    expect(savedImplications.map((x) => [x.antecedent_name, x.consequent_name])).toEqual([['hair_bow', 'hair_ornament'], ['character_10', 'character_1']]);
    expect(r.stdout).toMatch(/; \d+ aliases, 2 implications/);

    const pages = s.pages('tag_aliases.json');
    expect(pages[0]).toBe('');
    expect(pages.slice(1)).toEqual(expect.arrayContaining([expect.stringMatching(/^b\d+$/)]));
    expect(pages).toHaveLength(3); // 1,000 + the rest + an empty page
    expect(s.requests.filter((x) => x.endpoint !== 'tags.json').every((x) => x.query.get('search[status]') === 'active')).toBe(true);
  });

  it('writes nothing when a relations download fails after the tags arrived', async () => {
    await serve({ tags: SMALL, aliases, implications, faults: [{ endpoint: 'tag_implications.json', times: 100, reply: 'json500' }] });
    const r = await download(tmp, ['--with-relations', '--retries', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('tag_implications.json');
    expect(await fs.readdir(tmp)).toEqual([]);
  });
});
