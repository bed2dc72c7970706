/** The Retry-After estimate from durations given by the test, not measured: no clock, no timing. */
import { describe, expect, test } from 'vitest';
import { RETRY_AFTER, ServiceTime } from '../../src/server/service-time.ts';

describe('ServiceTime', () => {
  test('images ahead × seconds per image / workers, rounded up, at least 1 s', () => {
    const s = new ServiceTime(1);
    for (let i = 0; i < 5; i++) s.observe(0.3);
    expect(s.perImage).toBeCloseTo(0.3, 12);
    expect(s.retryAfter(8)).toBe(3); // 2.4 s
    expect(s.retryAfter(8, 2)).toBe(2); // 1.2 s
    expect(s.retryAfter(1)).toBe(1);
    expect(s.retryAfter(0)).toBe(RETRY_AFTER.min);
  });

  test('before any image: the assumed time; after: the measured one', () => {
    expect(new ServiceTime(1).retryAfter(8)).toBe(8);
    expect(new ServiceTime(0).retryAfter(64)).toBe(1);
  });

  test('recent durations weigh most: a slow first image is forgotten', () => {
    const s = new ServiceTime(1);
    s.observe(5);
    expect(s.retryAfter(8)).toBe(40);
    for (let i = 0; i < 20; i++) s.observe(0.3);
    expect(s.retryAfter(8)).toBe(3); // 0.3 + 4.7 × 0.8^20 = 0.354 s an image
  });

  test('clamped to the maximum; nonsense durations are ignored', () => {
    const s = new ServiceTime(1);
    s.observe(30);
    expect(s.retryAfter(1000)).toBe(RETRY_AFTER.max);
    s.observe(Number.NaN);
    s.observe(-1);
    s.observe(Infinity);
    expect(s.perImage).toBe(30);
  });
});
