// The consistent-hash ring: which members hold a key.
//
// Each member owns `vnodes` tokens, the 64-bit hashes of "<member>#<i>" for
// i in 0..vnodes-1. A key belongs to the first token at or after its own hash
// (wrapping past 2^64 - 1 to the first token); its preference list is the
// first n distinct members met walking clockwise from there. Members are
// stable names (the StatefulSet hostnames kvc-0, kvc-1, ...), never
// addresses, so a pod that restarts with a new IP keeps its ranges.
//
// A Ring is immutable: a membership change builds a new one (withMembers),
// which moves only the keys whose tokens the change added or removed.
//
// Lookups binary-search the sorted tokens (O(log T), T = members * vnodes)
// and allocate nothing: the key's hash goes into a scratch array, tokens live
// in typed arrays, and distinct members are tracked with a stamped array.

import { hash64, hashHex, type Hash64 } from './hash.js';

/**
 * Tokens per member when none are given. A member's share deviates from fair
 * by about 1/sqrt(vnodes): with 128 (the design's floor, KVRING_VNODES's
 * minimum) 25 of 416 members in 64 sample clusters (8 name prefixes x 3..10
 * members) were more than 15% off fair, the worst 27%; with 256, 2 (worst
 * 16%); with 512, none (worst 11.8%). So the default is 512: 5120 tokens
 * for 10 members, 60 KB, one or two more binary-search steps.
 */
export const DEFAULT_VNODES = 512;
/** Upper bound on vnodes, to keep a typo from building a ring of millions of tokens. */
export const MAX_VNODES = 65536;

export interface RingOptions {
  /** Tokens per member (default DEFAULT_VNODES). The node's config enforces >= 128; smaller rings are for tests. */
  readonly vnodes?: number;
  /** The hash placing tokens and keys (default hash64). Injected by tests for hand-checkable positions. */
  readonly hash?: Hash64;
}

const TWO_32 = 4294967296;
const TWO_64 = TWO_32 * TWO_32;
// Not looked up on the global per call: see the note in hash.ts.
const floor = Math.floor;
const min = Math.min;

export class Ring {
  /** Member names, sorted (UTF-16 code unit order) and distinct. */
  readonly members: readonly string[];
  readonly vnodes: number;
  /**
   * A short digest of the sorted member names and vnodes: equal on every node
   * that has the same membership, whatever order it learned the names in.
   * Always computed with hash64 (not an injected hash), so it is comparable
   * across processes.
   */
  readonly ringHash: string;

  private readonly hash: Hash64;
  private readonly index: ReadonlyMap<string, number>;
  private readonly tokenHi: Uint32Array;
  private readonly tokenLo: Uint32Array;
  private readonly tokenOwner: Uint32Array;
  private readonly scratch = new Uint32Array(2);
  // seen[m] === stamp marks member m as already in the preference list being
  // built; bumping the stamp clears every mark at once.
  private readonly seen: Uint32Array;
  private stamp = 0;

  constructor(members: readonly string[], opts: RingOptions = {}) {
    const vnodes = opts.vnodes ?? DEFAULT_VNODES;
    if (!Number.isInteger(vnodes) || vnodes < 1 || vnodes > MAX_VNODES) {
      throw new RangeError(`Ring: vnodes must be an integer in 1..${MAX_VNODES}, got ${vnodes}`);
    }
    for (const m of members) {
      if (typeof m !== 'string' || m.length === 0) {
        throw new TypeError(`Ring: member names must be non-empty strings, got ${JSON.stringify(m)}`);
      }
    }
    // Duplicates collapse: a member is in the ring or not.
    const sorted = [...new Set(members)].sort();
    if (sorted.length === 0) {
      throw new Error('Ring: cannot build a ring with no members (a key would have no replica)');
    }
    this.members = Object.freeze(sorted);
    this.vnodes = vnodes;
    this.hash = opts.hash ?? hash64;
    this.index = new Map(sorted.map((m, i) => [m, i]));
    this.seen = new Uint32Array(sorted.length);
    this.ringHash = hashHex(`vnodes=${vnodes};` + sorted.map((m) => `${m.length}:${m}`).join(','));

    const count = sorted.length * vnodes;
    const hi = new Uint32Array(count);
    const lo = new Uint32Array(count);
    const owner = new Uint32Array(count);
    const h = this.scratch;
    let t = 0;
    for (let m = 0; m < sorted.length; m++) {
      const name = sorted[m] as string;
      for (let i = 0; i < vnodes; i++, t++) {
        this.hash(`${name}#${i}`, h);
        hi[t] = h[0] as number;
        lo[t] = h[1] as number;
        owner[t] = m;
      }
    }
    // Sort token positions; equal positions (a 64-bit collision, or a test's
    // injected hash) order by member name so every node agrees.
    const order = Array.from({ length: count }, (_, i) => i);
    order.sort((a, b) => {
      const d = (hi[a] as number) - (hi[b] as number) || (lo[a] as number) - (lo[b] as number);
      return d !== 0 ? d : (owner[a] as number) - (owner[b] as number);
    });
    this.tokenHi = new Uint32Array(count);
    this.tokenLo = new Uint32Array(count);
    this.tokenOwner = new Uint32Array(count);
    for (let i = 0; i < count; i++) {
      const src = order[i] as number;
      this.tokenHi[i] = hi[src] as number;
      this.tokenLo[i] = lo[src] as number;
      this.tokenOwner[i] = owner[src] as number;
    }
  }

  /** Number of members. */
  get size(): number {
    return this.members.length;
  }

  /** Number of tokens (members * vnodes). */
  get tokenCount(): number {
    return this.tokenHi.length;
  }

  has(member: string): boolean {
    return this.index.has(member);
  }

  /** The member owning the first token at or after the key's hash. */
  primary(key: string): string {
    return this.members[this.tokenOwner[this.locate(key)] as number] as string;
  }

  /**
   * Fills out[0..count-1] with the first n distinct members clockwise from
   * the key's hash and returns count = min(n, size). Allocates nothing; slots
   * of `out` past count are left as they were.
   */
  preferenceInto(key: string, n: number, out: string[]): number {
    const want = min(floor(n), this.members.length);
    if (!(want > 0)) return 0;
    const stamp = this.nextStamp();
    const tokens = this.tokenOwner.length;
    let t = this.locate(key);
    let count = 0;
    // Every member has a token, so one lap always finds `want` of them.
    for (let steps = 0; count < want && steps < tokens; steps++) {
      const m = this.tokenOwner[t] as number;
      if (this.seen[m] !== stamp) {
        this.seen[m] = stamp;
        out[count++] = this.members[m] as string;
      }
      if (++t === tokens) t = 0;
    }
    return count;
  }

  /** The first n distinct members clockwise from the key's hash (n capped at size). */
  preferenceList(key: string, n: number): string[] {
    const out: string[] = [];
    out.length = this.preferenceInto(key, n, out);
    return out;
  }

  /** Whether member is among the key's first n replicas; allocation-free. */
  isReplica(key: string, member: string, n: number): boolean {
    const target = this.index.get(member);
    if (target === undefined) return false;
    const want = min(floor(n), this.members.length);
    if (!(want > 0)) return false;
    const stamp = this.nextStamp();
    const tokens = this.tokenOwner.length;
    let t = this.locate(key);
    let count = 0;
    for (let steps = 0; count < want && steps < tokens; steps++) {
      const m = this.tokenOwner[t] as number;
      if (m === target) return true;
      if (this.seen[m] !== stamp) {
        this.seen[m] = stamp;
        count++;
      }
      if (++t === tokens) t = 0;
    }
    return false;
  }

  /**
   * The share of the 64-bit hash space each member is primary for: the arcs
   * ending at its tokens. Shares sum to 1 (up to float rounding).
   */
  ownership(): Map<string, number> {
    const shares = new Float64Array(this.members.length);
    const tokens = this.tokenOwner.length;
    const pos = (i: number): number => (this.tokenHi[i] as number) * TWO_32 + (this.tokenLo[i] as number);
    for (let t = 0; t < tokens; t++) {
      // The arc (previous token, this token]; the first token's arc wraps
      // around from the last one. A lone token owns everything.
      const arc = t === 0 ? TWO_64 - (pos(tokens - 1) - pos(0)) : pos(t) - pos(t - 1);
      const m = this.tokenOwner[t] as number;
      shares[m] = (shares[m] as number) + arc / TWO_64;
    }
    return new Map(this.members.map((m, i) => [m, shares[i] as number]));
  }

  /** The ring for another membership, with the same vnodes and hash. */
  withMembers(members: readonly string[]): Ring {
    return new Ring(members, { vnodes: this.vnodes, hash: this.hash });
  }

  withMember(member: string): Ring {
    return this.withMembers([...this.members, member]);
  }

  /** Throws (like the constructor) when removing the last member. */
  withoutMember(member: string): Ring {
    return this.withMembers(this.members.filter((m) => m !== member));
  }

  /** Same members, vnodes and hash: the rings place every key identically. */
  equals(other: Ring): boolean {
    return (
      other.vnodes === this.vnodes &&
      other.hash === this.hash &&
      other.members.length === this.members.length &&
      other.members.every((m, i) => m === this.members[i])
    );
  }

  /** Index of the first token at or after the key's hash, wrapping to 0. */
  private locate(key: string): number {
    const h = this.scratch;
    this.hash(key, h);
    const khi = h[0] as number;
    const klo = h[1] as number;
    const hiArr = this.tokenHi;
    const loArr = this.tokenLo;
    let lo = 0;
    let hi = hiArr.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const th = hiArr[mid] as number;
      if (th < khi || (th === khi && (loArr[mid] as number) < klo)) lo = mid + 1;
      else hi = mid;
    }
    return lo === hiArr.length ? 0 : lo;
  }

  private nextStamp(): number {
    if (this.stamp === 0xffffffff) {
      this.seen.fill(0);
      this.stamp = 0;
    }
    return ++this.stamp;
  }
}
