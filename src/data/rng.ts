// A small seeded PRNG (mulberry32) and seeded permutations, so data order is reproducible.
// Deliberately separate from the engine's RNG: data loading must not depend on the tensor layer.

/** mulberry32: a 32-bit-state generator; returns floats in [0, 1). Fast and good enough for shuffling. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Derives an independent 32-bit seed for stream `n` of a base seed (splitmix32-style finaliser). */
export function deriveSeed(seed: number, n: number): number {
  let z = (Math.imul(seed >>> 0, 0x9e3779b9) + Math.imul(n >>> 0, 0x85ebca6b) + 0x7f4a7c15) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

/** A uniformly random permutation of 0..n-1 (Fisher-Yates), fixed by the seed. */
export function seededPermutation(n: number, seed: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rand = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}
