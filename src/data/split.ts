/** Fibonacci hashing of the post id: a stable split that does not depend on how many posts there are. */
export function isValidation(id: number, fraction: number): boolean {
  return ((Math.imul(id >>> 0, 0x9e3779b1) >>> 0) / 2 ** 32) < fraction;
}
