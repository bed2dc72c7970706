/**
 * A seeded PRNG with a serialisable state (xoshiro128**), so initialisation is reproducible and a
 * checkpoint can carry the generator and resume exactly.
 */
export class Rng {
  private s: Uint32Array;
  private spare: number | null = null;

  constructor(seed: number | readonly number[] = 0) {
    if (typeof seed === 'number') {
      // splitmix32 expands one number into the 128-bit state
      let z = seed >>> 0;
      const next = () => {
        z = (z + GOLDEN) >>> 0;
        return mix32(z);
      };
      this.s = Uint32Array.of(next(), next(), next(), next());
    } else {
      this.s = Uint32Array.from(seed.slice(0, 4));
      this.spare = seed[4] ?? null;
    }
  }

  /** A generator derived from several small numbers (seed, epoch, step, position…), hashed into the state (hashedState). */
  static derived(...words: number[]): Rng {
    return new Rng(hashedState(words));
  }

  /** The four state words, then the pending Box–Muller spare if there is one: resuming must replay it. */
  get state(): number[] {
    return this.spare === null ? [...this.s] : [...this.s, this.spare];
  }

  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const r = Math.sqrt(-2 * Math.log(u)), a = 2 * Math.PI * this.next();
    this.spare = r * Math.sin(a);
    return r * Math.cos(a);
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}

const GOLDEN = 0x9e3779b9;

/** splitmix32's finaliser: every input bit moves about half the output bits. */
function mix32(z: number): number {
  let t = z ^ (z >>> 16);
  t = Math.imul(t, 0x21f0aaad);
  t ^= t >>> 15;
  t = Math.imul(t, 0x735a2d97);
  return (t ^ (t >>> 15)) >>> 0;
}

/**
 * A state for `new Rng(...)` from several small numbers (seed, epoch, position): four independent hashes of
 * them. Raw small words will not do: xoshiro128**'s first output is a function of its second word alone and
 * its next ones mix slowly, so states that differ only in small words start with nearly the same draws.
 */
function hashedState(words: readonly number[]): number[] {
  return [1, 2, 3, 4].map((lane) => words.reduce((h, w) => mix32(((h ^ (w >>> 0)) + GOLDEN) >>> 0), mix32(Math.imul(lane, GOLDEN) >>> 0)));
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
