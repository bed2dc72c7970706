/** The client without a server: the default URL, Retry-After, error bodies, natural sort. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_BASE_URL, createDanbooruClient, describeBody, normaliseBaseUrl, parseRetryAfter } from '../../src/danbooru/client.ts';
import { naturalSorted } from '../../src/danbooru/natural-sort.ts';

describe('danbooru client', () => {
  it('defaults to https://danbooru.donmai.us (checked with a fake fetch, no network)', async () => {
    const seen: string[] = [];
    const fake = ((url: URL) => {
      seen.push(url.href);
      return Promise.resolve(new Response('[]', { headers: { 'content-type': 'application/json' } }));
    }) as unknown as typeof fetch;
    const client = createDanbooruClient({ fetch: fake });
    expect(client.baseUrl).toBe(`${DEFAULT_BASE_URL}/`);
    expect(await client.get('tags.json', { limit: 1000, 'search[order]': 'count' })).toEqual([]);
    expect(seen).toEqual(['https://danbooru.donmai.us/tags.json?limit=1000&search%5Border%5D=count']);
  });

  it('keeps a base path and drops a query', () => {
    expect(normaliseBaseUrl('http://127.0.0.1:8080/booru?x=1').href).toBe('http://127.0.0.1:8080/booru/');
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2024-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Mon, 01 Jan 2024 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Sun, 31 Dec 2023 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it.each([
    ['{"success":false,"message":"You cannot go beyond page 1000."}', 'application/json', '"You cannot go beyond page 1000."'],
    ['<html><head><title>Just a moment...</title></head><body>x</body></html>', 'text/html', 'an HTML page: "Just a moment..."'],
    ['<html><body><h1>Service Unavailable</h1><script>var x=1</script></body></html>', 'text/html', 'an HTML page: "Service Unavailable"'],
    ['', null, 'an empty body'],
    ['plain failure', 'text/plain', '"plain failure"'],
  ])('describes the body %s', (body, type, expected) => {
    expect(describeBody(body, type)).toBe(expected);
  });

  it('fails on 200 HTML, as a site that is not Danbooru answers', async () => {
    const fake = (() => Promise.resolve(new Response('<html><title>My blog</title></html>', { headers: { 'content-type': 'text/html' } }))) as unknown as typeof fetch;
    const client = createDanbooruClient({ fetch: fake, baseUrl: 'http://127.0.0.1:1/' });
    await expect(client.get('tags.json', {})).rejects.toThrow('expected JSON but received text/html, an HTML page: "My blog". Is --base-url a Danbooru site?');
  });
});

describe('natural sort', () => {
  it("matches deepdanbooru's natural_sorted (oracle: python3)", () => {
    const xs = ['1girl', '10girls', '2girls', '6+girls', 'Aa', 'a', '_a', 'a_', 'a1', 'a01b', 'a10', 'a2', 'a_b', 'ab', 'A', 'zz', 'z9', 'z09x', 'z9a', '(ry)', 'é', 'e', 'f', 'ｚ', '１２a', '3a', '2b', '😀', 'ﬀ', 'multiple_girls', 'girl_100', 'girl_20', 'girl_3', 'girl', 'girl_', 'rating:general', 'k-on!', 'k-on!!', '~'];
    expect(naturalSorted(xs)).toEqual([
      '1girl', '2b', '2girls', '3a', '6+girls', '10girls', '１２a', '(ry)', 'A', 'Aa', '_a', 'a', 'a1', 'a01b', 'a2', 'a10', 'a_', 'a_b', 'ab', 'e', 'f', 'girl', 'girl_', 'girl_3',
      'girl_20', 'girl_100', 'k-on!', 'k-on!!', 'multiple_girls', 'rating:general', 'z9', 'z9a', 'z09x', 'zz', '~', 'é', 'ﬀ', 'ｚ', '😀',
    ]);
  });

  it('orders keys Python finds equal by code point, so runs agree', () => {
    expect(naturalSorted(['a1', 'a01', 'a001'])).toEqual(['a001', 'a01', 'a1']);
    expect(naturalSorted(['a01', 'a1', 'a001'])).toEqual(['a001', 'a01', 'a1']);
  });
});
