// The 64-bit hash that places keys and member tokens on the ring. The node
// and the TypeScript client both import it, so a key routes to the same
// replicas whichever side computes it: changing anything here reshuffles
// every cluster's data.
//
// The function, exactly:
//   1. FNV-1a 64 over the UTF-8 bytes of the string (offset basis
//      0xcbf29ce484222325, prime 0x100000001b3 = 2^40 + 0x1b3). UTF-8 is
//      produced on the fly from the UTF-16 code units; a lone surrogate
//      encodes as U+FFFD (EF BF BD), as Buffer.from(s) and TextEncoder do.
//   2. The MurmurHash3 64-bit finalizer (fmix64) over the FNV result:
//        h ^= h >>> 33; h *= 0xff51afd7ed558ccd;
//        h ^= h >>> 33; h *= 0xc4ceb9fe1a85ec53;
//        h ^= h >>> 33            (all mod 2^64)
// Step 2 exists because FNV-1a alone mixes its last input bytes only into
// the low bits: strings that differ in their final character ("kvc-0#17",
// "kvc-0#18", "user:41", "user:42") land close together on the ring, which
// ruins both token balance and key spread. fmix64 is a bijection, so it adds
// no collisions.
//
// Everything runs on 32-bit halves with Math.imul and 16-bit limbs: no
// BigInt, no Buffer or TextEncoder, no allocation per call. The result goes
// into a caller-owned Uint32Array: out[0] = high 32 bits, out[1] = low 32.

/** A 64-bit string hash writing its result into out[0] (high half) and out[1] (low half). */
export type Hash64 = (s: string, out: Uint32Array) => void;

const FNV_OFFSET_HI = 0xcbf29ce4;
const FNV_OFFSET_LO = 0x84222325;
// The FNV prime is 2^40 + 0x1b3: multiplying by it is a shift by 40 (8 bits
// into the high half) plus a multiplication by 435.
const FNV_PRIME_LOW = 0x1b3;

const FMIX_C1_HI = 0xff51afd7;
const FMIX_C1_LO = 0xed558ccd;
const FMIX_C2_HI = 0xc4ceb9fe;
const FMIX_C2_LO = 0x1a85ec53;

const TWO_32 = 4294967296;

// Module-level copies of the Math functions used per byte: inside a vm
// context (jest runs every test module in one) each lookup of the global
// `Math` goes through an interceptor and costs ~1 us, which made this hash
// 50x slower under test (nodejs/node#31658, jestjs/jest#5163). In the node
// itself it makes no difference.
const imul = Math.imul;
const floor = Math.floor;

/** out = (ah:al) * (bh:bl) mod 2^64 (out[0] high half, out[1] low half). */
function mul64(ah: number, al: number, bh: number, bl: number, out: Uint32Array): void {
  // The low product al*bl needs all 64 bits, so split it into 16-bit limbs
  // whose partial products stay exact in a double.
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const b0 = bl & 0xffff;
  const b1 = bl >>> 16;
  const p00 = a0 * b0;
  const mid = a0 * b1 + a1 * b0 + (p00 >>> 16); // < 2^34, exact
  const lowHi = a1 * b1 + floor(mid / 65536); // high 32 bits of al*bl
  // The cross terms only reach the high half; their own high bits fall off.
  out[0] = lowHi + imul(ah, bl) + imul(al, bh);
  out[1] = (mid & 0xffff) * 65536 + (p00 & 0xffff);
}

// UTF-8 bytes of the non-ASCII tail of a string. Reused across calls; it
// grows (once, to the longest such key seen) instead of allocating per call.
let utf8 = new Uint8Array(256);

/** Encodes s[from..] as UTF-8 into `utf8`; returns the byte count. */
function encodeTail(s: string, from: number): number {
  const n = s.length;
  if ((n - from) * 3 > utf8.length) utf8 = new Uint8Array((n - from) * 3 * 2);
  const b = utf8;
  let j = 0;
  for (let i = from; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      b[j++] = c;
    } else if (c < 0x800) {
      b[j++] = 0xc0 | (c >>> 6);
      b[j++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          // A surrogate pair: 4 bytes, and at most 2 per 2 code units below 3n.
          const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          b[j++] = 0xf0 | (cp >>> 18);
          b[j++] = 0x80 | ((cp >>> 12) & 0x3f);
          b[j++] = 0x80 | ((cp >>> 6) & 0x3f);
          b[j++] = 0x80 | (cp & 0x3f);
          continue;
        }
        c = 0xfffd; // a lone surrogate: the WHATWG replacement character
      }
      b[j++] = 0xe0 | (c >>> 12);
      b[j++] = 0x80 | ((c >>> 6) & 0x3f);
      b[j++] = 0x80 | (c & 0x3f);
    }
  }
  return j;
}

// One FNV-1a step, h = (h ^ byte) * (2^40 + 435), is written out inline in
// both loops below (a helper cannot return two halves without allocating):
//   lo ^= byte; p = lo * 435 (below 2^41, exact in a double);
//   hi = hi * 435 + carry(p) + (lo << 8)   [the 2^40 term]   mod 2^32
//   lo = p mod 2^32

/** Plain FNV-1a 64 of the UTF-8 bytes of s (step 1 only); exported for test vectors. */
export function fnv1a64(s: string, out: Uint32Array): void {
  let hi = FNV_OFFSET_HI;
  let lo = FNV_OFFSET_LO;
  const n = s.length;
  let i = 0;
  // ASCII, the common case, straight from the code units.
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) break;
    lo = (lo ^ c) >>> 0;
    const p = lo * FNV_PRIME_LOW;
    hi = (imul(hi, FNV_PRIME_LOW) + floor(p / TWO_32) + (lo << 8)) >>> 0;
    lo = p >>> 0;
  }
  if (i < n) {
    const len = encodeTail(s, i);
    const b = utf8;
    for (let j = 0; j < len; j++) {
      lo = (lo ^ (b[j] as number)) >>> 0;
      const p = lo * FNV_PRIME_LOW;
      hi = (imul(hi, FNV_PRIME_LOW) + floor(p / TWO_32) + (lo << 8)) >>> 0;
      lo = p >>> 0;
    }
  }
  out[0] = hi;
  out[1] = lo;
}

/** The ring's hash: FNV-1a 64 over UTF-8, then the fmix64 finalizer. */
export const hash64: Hash64 = (s, out) => {
  fnv1a64(s, out);
  const hi = out[0] as number;
  // h ^= h >>> 33: the high half, shifted by one, lands in the low half.
  mul64(hi, ((out[1] as number) ^ (hi >>> 1)) >>> 0, FMIX_C1_HI, FMIX_C1_LO, out);
  const hi2 = out[0] as number;
  mul64(hi2, ((out[1] as number) ^ (hi2 >>> 1)) >>> 0, FMIX_C2_HI, FMIX_C2_LO, out);
  out[1] = (out[1] as number) ^ ((out[0] as number) >>> 1);
};

const hexScratch = new Uint32Array(2);

/** 16 lowercase hex digits of a 64-bit hash of s (default: hash64). Allocates; for digests and logs. */
export function hashHex(s: string, hash: Hash64 = hash64): string {
  hash(s, hexScratch);
  return hex32(hexScratch[0] ?? 0) + hex32(hexScratch[1] ?? 0);
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, '0');
}
