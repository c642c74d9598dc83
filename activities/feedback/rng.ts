/**
 * alignloop's own seeded generator (sfc32 seeded through splitmix32). One stream per
 * conversion; the same seed gives the same stream on every platform.
 */
export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export function seededRng(seed: number | string): Rng {
  let lo: number;
  let hi: number;
  if (typeof seed === 'string') {
    // FNV-1a over the string, twice with different offsets.
    lo = 0x811c9dc5;
    hi = 0x01000193;
    for (let i = 0; i < seed.length; i++) {
      lo = Math.imul(lo ^ seed.charCodeAt(i), 0x01000193) >>> 0;
      hi = Math.imul(hi ^ seed.charCodeAt(i), 0x811c9dc5) >>> 0;
    }
  } else {
    if (!Number.isFinite(seed)) throw new Error(`seed must be a finite number, got ${seed}`);
    const s = Math.trunc(Math.abs(seed));
    lo = s >>> 0;
    hi = Math.floor(s / 4294967296) >>> 0;
    if (seed < 0) hi = (hi ^ 0x80000000) >>> 0;
  }
  const mix = splitmix32(lo ^ Math.imul(hi, 0x27d4eb2d));
  let a = mix(),
    b = mix(),
    c = mix(),
    d = mix();
  const next32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) next32();
  const next = () => next32() / 4294967296;
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
  };
}

/** In-place Fisher-Yates shuffle. */
export function shuffleInPlace<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
  }
  return items;
}
