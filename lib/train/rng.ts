// A seeded random generator (xoshiro128**) whose whole state is four uint32 words, so a
// checkpoint can store it and a resumed run draws exactly the numbers it would have drawn.

// bound once, not looked up per element (CONTRIBUTING.md: hot loops under jest)
const { cos, floor, imul, log, PI, sqrt } = Math;

export class Rng {
  readonly s = new Uint32Array(4);
  constructor(seed: number | Uint32Array = 0) {
    if (typeof seed === 'number') {
      if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in 0..2^32-1, got ${seed}`);
      // splitmix32 spreads the seed over the state (never all zeros)
      let z = seed >>> 0;
      for (let i = 0; i < 4; i++) {
        z = (z + 0x9e3779b9) >>> 0;
        let t = z;
        t = imul(t ^ (t >>> 16), 0x85ebca6b) >>> 0;
        t = imul(t ^ (t >>> 13), 0xc2b2ae35) >>> 0;
        this.s[i] = (t ^ (t >>> 16)) >>> 0;
      }
      if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
    } else {
      if (seed.length !== 4) throw new RangeError('rng state must be 4 uint32 words');
      this.s.set(seed);
    }
  }
  /** Next uint32. */
  u32(): number {
    const s = this.s;
    const r = imul(rotl(imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return r;
  }
  /** Uniform in [0, 1). */
  next(): number { return this.u32() / 4294967296; }
  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next(), v = this.next();
    return sqrt(-2 * log(u)) * cos(2 * PI * v);
  }
  /** A random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = floor(this.next() * (i + 1));
      const t = p[i]; p[i] = p[j]; p[j] = t;
    }
    return p;
  }
}
function rotl(x: number, k: number): number { return ((x << k) | (x >>> (32 - k))) >>> 0; }
