import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/models/random.ts';

const draw = (rng: Rng, n: number, f: (r: Rng) => number) => Array.from({ length: n }, () => f(rng));
const moments = (xs: readonly number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, variance: xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length };
};

describe('Rng', () => {
  it('is reproducible from a seed and differs across seeds', () => {
    expect(draw(new Rng(7), 50, (r) => r.nextUint32())).toEqual(draw(new Rng(7), 50, (r) => r.nextUint32()));
    expect(draw(new Rng(7), 50, (r) => r.nextUint32())).not.toEqual(draw(new Rng(8), 50, (r) => r.nextUint32()));
  });

  it('returns 32-bit unsigned integers and uniforms in [0, 1)', () => {
    const rng = new Rng(3);
    expect(draw(rng, 10_000, (r) => r.nextUint32()).every((u) => Number.isInteger(u) && u >= 0 && u < 2 ** 32)).toBe(true);
    expect(draw(rng, 10_000, (r) => r.next()).every((u) => u >= 0 && u < 1)).toBe(true);
  });

  it('resumes the same uniform sequence from a saved state', () => {
    const rng = new Rng(42);
    draw(rng, 13, (r) => r.next());
    const saved = rng.state;
    const expected = draw(rng, 100, (r) => r.next());
    expect(draw(new Rng(saved), 100, (r) => r.next())).toEqual(expected);
  });

  it.each([0, 1, 2, 7])('resumes the same normal sequence after %i normals (Box–Muller keeps a spare)', (before) => {
    const rng = new Rng(42);
    draw(rng, before, (r) => r.normal());
    const saved = JSON.parse(JSON.stringify(rng.state)) as number[]; // a checkpoint stores it as JSON
    const expected = draw(rng, 20, (r) => r.normal());
    expect(draw(new Rng(saved), 20, (r) => r.normal())).toEqual(expected);
  });

  it('does not share state with the array it was restored from', () => {
    const rng = new Rng(5);
    const saved = rng.state;
    rng.next();
    expect(rng.state).not.toEqual(saved);
    expect(new Rng(saved).state).toEqual(saved);
  });

  it('uniform(lo, hi) has mean (lo+hi)/2 and variance (hi−lo)²/12', () => {
    const xs = draw(new Rng(11), 100_000, (r) => r.uniform(-3, 5));
    const { mean, variance } = moments(xs);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(-3);
    expect(Math.max(...xs)).toBeLessThan(5);
    expect(mean).toBeCloseTo(1, 1);
    expect(variance / (64 / 12)).toBeCloseTo(1, 1);
  });

  it('normal() has mean 0 and variance 1, with tails', () => {
    const xs = draw(new Rng(12), 100_000, (r) => r.normal());
    const { mean, variance } = moments(xs);
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(variance - 1)).toBeLessThan(0.03);
    // P(|z| > 2) = 4.55%
    expect(xs.filter((x) => Math.abs(x) > 2).length / xs.length).toBeCloseTo(0.0455, 2);
  });

  it('int(n) covers 0..n−1 evenly', () => {
    const counts = new Array<number>(5).fill(0);
    for (const k of draw(new Rng(13), 50_000, (r) => r.int(5))) counts[k]!++;
    for (const c of counts) expect(Math.abs(c / 10_000 - 1)).toBeLessThan(0.05);
  });

  it('shuffle is an in-place permutation, reproducible by seed', () => {
    const items = Array.from({ length: 100 }, (_, i) => i);
    const a = new Rng(9).shuffle([...items]);
    expect([...a].sort((x, y) => x - y)).toEqual(items);
    expect(a).not.toEqual(items);
    expect(new Rng(9).shuffle([...items])).toEqual(a);
    const same = [...items];
    expect(new Rng(1).shuffle(same)).toBe(same);
  });

  it('shuffle reaches every position (first element lands uniformly)', () => {
    const rng = new Rng(21);
    const where = new Array<number>(4).fill(0);
    for (let t = 0; t < 8_000; t++) where[rng.shuffle([0, 1, 2, 3]).indexOf(0)]!++;
    for (const c of where) expect(Math.abs(c / 2_000 - 1)).toBeLessThan(0.1);
  });
});
