// The demo legacy API's data set. Seeded keys are computed, not stored, so a
// benchmark can ask for millions of keys without the process holding them:
//
//   user:<n>    for n = 1..N   value: the JSON text of a user record, as a
//                              string: {"id":n,"name":"User n","email":"usern@example.com"}
//   legacy:<n>  for n = 1..N   value: "legacy-value-<n>"
//
// (<n> is written without leading zeros; N is --keys, default 1000.) Keys
// added at runtime (POST /admin/data) come first and may hold any JSON value.

const SEEDED = /^(user|legacy):([1-9][0-9]{0,15})$/;

export const DEFAULT_SEED_KEYS = 1000;

export function userValue(n: number): string {
  return JSON.stringify({ id: n, name: `User ${n}`, email: `user${n}@example.com` });
}

export function legacyValue(n: number): string {
  return `legacy-value-${n}`;
}

export class DemoData {
  private readonly added = new Map<string, unknown>();

  constructor(readonly seedKeys: number = DEFAULT_SEED_KEYS) {
    if (!Number.isSafeInteger(seedKeys) || seedKeys < 0) {
      throw new RangeError(`seed keys must be an integer >= 0, got ${seedKeys}`);
    }
  }

  /** The value of `key`, or undefined when the API does not have it. */
  get(key: string): unknown {
    const added = this.added.get(key);
    if (added !== undefined) return added;
    const m = SEEDED.exec(key);
    if (m === null) return undefined;
    const n = Number(m[2]);
    if (n > this.seedKeys) return undefined;
    return m[1] === 'user' ? userValue(n) : legacyValue(n);
  }

  /** Adds or replaces a key; `value` is any JSON value but null. */
  set(key: string, value: unknown): void {
    this.added.set(key, value);
  }

  /** Keys the API answers 200 for: 2 × seed keys plus runtime additions. */
  get size(): number {
    let extra = 0;
    for (const key of this.added.keys()) if (!this.isSeeded(key)) extra++;
    return 2 * this.seedKeys + extra;
  }

  private isSeeded(key: string): boolean {
    const m = SEEDED.exec(key);
    return m !== null && Number(m[2]) <= this.seedKeys;
  }
}
