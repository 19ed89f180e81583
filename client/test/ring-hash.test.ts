import { describe, expect, it } from '@jest/globals';
import { fnv1a64, hash64, hashHex, type Hash64 } from '../src/ring/hash.js';
import { seededRandom as mulberry32 } from '@kvring/test-support/prng';

// Reference values computed independently with Python over the UTF-8 bytes:
//   def fnv(b): h = 0xcbf29ce484222325; for x in b: h = ((h ^ x) * 0x100000001b3) % 2**64
//   def fmix(h): h ^= h >> 33; h = h * 0xff51afd7ed558ccd % 2**64; h ^= h >> 33;
//                h = h * 0xc4ceb9fe1a85ec53 % 2**64; h ^= h >> 33
// ("", "a" and "foobar" are also the FNV authors' published test vectors.)
const VECTORS: ReadonlyArray<readonly [string, string, string]> = [
  ['', 'cbf29ce484222325', 'efd01f60ba992926'],
  ['a', 'af63dc4c8601ec8c', '82a2a958a9bece5b'],
  ['foobar', '85944171f73967e8', '2c22194922d1672b'],
  ['kvc-0#0', '5dc767dc64380793', '1a7bd53219d72fcc'],
  ['user:42', '6c151ea4dcd221c2', '998817bee6718248'],
  ['h\u00e9llo', 'a35ff71f960240e0', 'c185412747a0264d'],
  ['\u65e5\u672c', '121d7e35a6d3ce91', '1230c55089fe4e43'],
  ['\u{1F600}', 'feff073875020288', 'da89b0991f06f386'],
  // U+FFFD, which is also what a lone surrogate must hash as.
  ['\ufffd', '6f6d661b9658624a', 'cf0b301fe2a776cd'],
];

function hex(fn: Hash64, s: string): string {
  const out = new Uint32Array(2);
  fn(s, out);
  return (out[0] ?? 0).toString(16).padStart(8, '0') + (out[1] ?? 0).toString(16).padStart(8, '0');
}

// A second, deliberately different implementation: BigInt arithmetic over
// the bytes Node's own UTF-8 encoder produces.
const M64 = (1n << 64n) - 1n;
function referenceHash(s: string): string {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(s, 'utf8')) h = ((h ^ BigInt(b)) * 0x100000001b3n) & M64;
  h ^= h >> 33n;
  h = (h * 0xff51afd7ed558ccdn) & M64;
  h ^= h >> 33n;
  h = (h * 0xc4ceb9fe1a85ec53n) & M64;
  h ^= h >> 33n;
  return h.toString(16).padStart(16, '0');
}

describe('hash64', () => {
  it.each(VECTORS)('matches FNV-1a 64 and FNV-1a 64 + fmix64 computed in Python for %j', (s, fnv, full) => {
    expect(hex(fnv1a64, s)).toBe(fnv);
    expect(hex(hash64, s)).toBe(full);
  });

  it('hashes a lone surrogate as U+FFFD, as Buffer.from and TextEncoder encode it', () => {
    expect(hex(hash64, '\ud800')).toBe('cf0b301fe2a776cd');
    expect(hex(hash64, 'x\udc00y')).toBe(hex(hash64, 'x\ufffdy'));
    // A high surrogate at the very end has no partner to pair with.
    expect(hex(hash64, 'ab\udbff')).toBe(hex(hash64, 'ab\ufffd'));
  });

  it('agrees with a BigInt reference over Node-encoded UTF-8 on random strings', () => {
    const rand = mulberry32(42);
    // Code units from every UTF-8 length class, surrogates (paired or not) included.
    const pools = [
      [0x20, 0x7f],
      [0x80, 0x7ff],
      [0x800, 0xd7ff],
      [0xd800, 0xdfff],
      [0xe000, 0xffff],
    ] as const;
    let mismatches = 0;
    for (let i = 0; i < 2000; i++) {
      // Lengths past 256 code units exercise the growth of the encoder's scratch buffer.
      const len = i % 100 === 0 ? 300 + Math.floor(rand() * 700) : Math.floor(rand() * 40);
      let s = '';
      for (let j = 0; j < len; j++) {
        const [lo, hi] = pools[Math.floor(rand() * pools.length)] ?? pools[0];
        s += String.fromCharCode(lo + Math.floor(rand() * (hi - lo + 1)));
      }
      if (i % 7 === 0) s += '\u{1F680}'; // a well-formed pair
      if (hex(hash64, s) !== referenceHash(s)) mismatches++;
    }
    expect(mismatches).toBe(0);
  });

  it('spreads keys that differ only in their last character across the whole range', () => {
    // Plain FNV-1a would leave the high bits of these nearly equal; the ring
    // orders by the high bits first, so they must differ.
    // (FNV-1a alone puts user:0..user:99 into 2 of the 16 top-4-bit buckets.)
    const highs = new Set<number>();
    const out = new Uint32Array(2);
    for (let i = 0; i < 100; i++) {
      hash64(`user:${i}`, out);
      highs.add((out[0] ?? 0) >>> 28);
    }
    expect(highs.size).toBe(16);
  });

  it('hashHex gives 16 hex digits of hash64 by default, or of an injected hash', () => {
    expect(hashHex('foobar')).toBe('2c22194922d1672b');
    expect(hashHex('foobar', fnv1a64)).toBe('85944171f73967e8');
  });
});
