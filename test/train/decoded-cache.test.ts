/** The decoded-image cache's bookkeeping: what it keeps, what it pays for, what it refuses. */
import { describe, expect, test } from 'vitest';
import type { DecodedFile } from '../../src/image/decode.ts';
import { DecodedCache, defaultDecodedBudget } from '../../src/train/decoded-cache.ts';

function counting(bytes: number) {
  const calls: string[] = [];
  const decode = (path: string): Promise<DecodedFile> => {
    calls.push(path);
    if (path.includes('corrupt')) return Promise.reject(new Error(`cannot decode ${path}`));
    return Promise.resolve({ data: new Uint8Array(bytes), width: 1, height: bytes / 3, channels: 3, mediaType: 'image/png' });
  };
  return { calls, decode };
}

describe('DecodedCache', () => {
  test('keeps images first come until the budget, decodes each kept one once, and never evicts', async () => {
    const cache = new DecodedCache(250), { calls, decode } = counting(90);
    for (let epoch = 0; epoch < 3; epoch++) for (const p of ['a', 'b', 'c', 'd']) await cache.get(p, decode);
    // a and b fit (180 of 250 bytes); c would make 270: c and d are decoded every epoch
    expect(cache.stats).toEqual({ images: 2, bytes: 180 });
    expect(calls.filter((p) => p === 'a')).toHaveLength(1);
    expect(calls.filter((p) => p === 'c')).toHaveLength(3);
    expect(await cache.get('a', decode)).toBe(await cache.get('a', decode));
  });

  test('two loads of one image at once count its bytes once; a failed decode is not kept and fails again', async () => {
    const cache = new DecodedCache(1000), { calls, decode } = counting(30);
    await Promise.all([cache.get('x', decode), cache.get('x', decode)]);
    expect(cache.stats).toEqual({ images: 1, bytes: 30 });
    await expect(cache.get('corrupt.png', decode)).rejects.toThrow(/cannot decode corrupt.png/);
    await expect(cache.get('corrupt.png', decode)).rejects.toThrow(/cannot decode/);
    expect(calls.filter((p) => p === 'corrupt.png')).toHaveLength(2);
    expect(cache.stats.images).toBe(1);
  });

  test('the default budget: an eighth of memory, at most 2 GiB', () => {
    expect(defaultDecodedBudget(8 * 2 ** 30)).toBe(2 ** 30);
    expect(defaultDecodedBudget(64 * 2 ** 30)).toBe(2 ** 31);
  });
});
