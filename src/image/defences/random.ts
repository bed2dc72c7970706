/**
 * The draws of a randomised defence: mulberry32, a 32-bit generator small enough to seed per image, so a
 * request's noise or resize can be replayed from its seed (an attack's EOT, a test).
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
