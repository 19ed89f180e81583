import { describe, expect, it } from '@jest/globals';
import { KvError, LimitExceededError, grpcStatusOf } from '../../src/errors.js';
import { status } from '@grpc/grpc-js';
import { MAX_TTL_MS, checkBatch, checkKey, checkTtl, checkValue, type Limits } from '../../src/limits.js';

const limits: Limits = { maxKeyBytes: 8, maxValueBytes: 16, maxBatch: 3 };

/** The error a check throws, asserting it is an INVALID_ARGUMENT (gRPC status). */
function rejection(fn: () => unknown): KvError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(KvError);
  expect(grpcStatusOf(caught)).toBe(status.INVALID_ARGUMENT);
  return caught as KvError;
}

describe('checkKey', () => {
  it('accepts keys up to the limit in UTF-8 bytes and returns them unchanged', () => {
    expect(checkKey(limits, 'a')).toBe('a');
    expect(checkKey(limits, '12345678')).toBe('12345678');
    // 2 x 3-byte characters + 2 ASCII = 8 bytes.
    expect(checkKey(limits, '€€ab')).toBe('€€ab');
    // One astral character: 2 UTF-16 units, 4 UTF-8 bytes.
    expect(checkKey(limits, '😀😀')).toBe('😀😀');
  });

  it('rejects an empty key, naming the field', () => {
    expect(rejection(() => checkKey(limits, '')).message).toBe('key: must not be empty');
    expect(rejection(() => checkKey(limits, '', 'keys[2]')).message).toBe('keys[2]: must not be empty');
  });

  it('rejects what is not a string at all', () => {
    expect(rejection(() => checkKey(limits, undefined)).message).toMatch(/^key: /);
    expect(rejection(() => checkKey(limits, 42)).message).toMatch(/^key: /);
  });

  it('rejects a key one byte past the limit, naming the size, the limit and the setting', () => {
    const err = rejection(() => checkKey(limits, '123456789'));
    expect(err.message).toBe('key: 9 bytes exceeds the key limit of 8 bytes (KVRING_MAX_KEY_BYTES)');
  });

  it('counts UTF-8 bytes, not characters: multi-byte keys short in characters can be too long', () => {
    // 3 characters, 9 UTF-8 bytes.
    expect(rejection(() => checkKey(limits, '€€€')).message).toMatch(
      /^key: 9 bytes exceeds the key limit of 8/,
    );
    // 3 astral characters: 6 UTF-16 units (under 8), 12 UTF-8 bytes.
    expect(rejection(() => checkKey(limits, '😀😀😀')).message).toMatch(/^key: 12 bytes exceeds/);
    // 5 two-byte characters: 5 characters, 10 bytes.
    expect(rejection(() => checkKey(limits, 'ééééé')).message).toMatch(/^key: 10 bytes exceeds/);
  });

  it('uses the default limit of 1 KiB as configured in the node', () => {
    const node: Limits = { maxKeyBytes: 1024, maxValueBytes: 1 << 20, maxBatch: 1000 };
    expect(checkKey(node, 'k'.repeat(1024))).toHaveLength(1024);
    expect(rejection(() => checkKey(node, 'k'.repeat(1025))).message).toMatch(
      /1025 bytes exceeds the key limit of 1024 bytes \(KVRING_MAX_KEY_BYTES\)/,
    );
    // 512 two-byte characters = 1024 bytes: fits; one more character does not.
    expect(checkKey(node, 'é'.repeat(512))).toHaveLength(512);
    expect(rejection(() => checkKey(node, 'é'.repeat(513))).message).toMatch(/1026 bytes exceeds/);
  });

  it('rejects a NUL character anywhere (PostgreSQL text cannot hold it)', () => {
    expect(rejection(() => checkKey(limits, 'a\0b')).message).toBe('key: must not contain NUL characters');
    expect(rejection(() => checkKey(limits, '\0')).message).toMatch(/NUL/);
    expect(rejection(() => checkKey(limits, 'ab\0')).message).toMatch(/NUL/);
  });

  it('rejects lone surrogates (they cannot be encoded in UTF-8 and would change on the way)', () => {
    expect(rejection(() => checkKey(limits, 'a\ud800')).message).toBe('key: must be valid Unicode (UTF-8)');
    expect(rejection(() => checkKey(limits, '\udc00b')).message).toMatch(/valid Unicode/);
    // The reversed pair is two lone surrogates.
    expect(rejection(() => checkKey(limits, '\ude00\ud83d')).message).toMatch(/valid Unicode/);
  });

  it('names the field it was given', () => {
    expect(rejection(() => checkKey(limits, 'a\0', 'entries[4].key')).message).toMatch(
      /^entries\[4\]\.key: /,
    );
  });
});

describe('checkValue', () => {
  it('accepts values up to the limit, including empty ones', () => {
    expect(checkValue(limits, Buffer.alloc(0))).toHaveLength(0);
    expect(checkValue(limits, Buffer.alloc(16))).toHaveLength(16);
  });

  it('rejects a value one byte past the limit, naming the size, the limit and the setting', () => {
    expect(rejection(() => checkValue(limits, Buffer.alloc(17))).message).toBe(
      'value: 17 bytes exceeds the value limit of 16 bytes (KVRING_MAX_VALUE_BYTES)',
    );
    expect(rejection(() => checkValue(limits, Buffer.alloc(17), 'entries[0].value')).message).toMatch(
      /^entries\[0\]\.value: 17 bytes/,
    );
  });
});

describe('checkBatch', () => {
  it('accepts from one entry up to the limit', () => {
    expect(() => checkBatch(limits, 1, 'keys')).not.toThrow();
    expect(() => checkBatch(limits, 3, 'keys')).not.toThrow();
  });

  it('rejects an empty batch', () => {
    expect(rejection(() => checkBatch(limits, 0, 'keys')).message).toBe('keys: must hold at least one entry');
  });

  it('rejects a batch one past the limit, naming the count, the limit and the setting', () => {
    expect(rejection(() => checkBatch(limits, 4, 'entries')).message).toBe(
      'entries: 4 entries exceeds the batch limit of 3 (KVRING_MAX_BATCH)',
    );
  });
});

describe('checkTtl', () => {
  it('accepts 0 (no TTL given) up to the maximum', () => {
    expect(checkTtl(0)).toBe(0);
    expect(checkTtl(1)).toBe(1);
    expect(checkTtl(MAX_TTL_MS)).toBe(MAX_TTL_MS);
  });

  it('rejects negative, fractional, non-finite and too large TTLs, naming the bounds', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, MAX_TTL_MS + 1]) {
      const msg = rejection(() => checkTtl(bad)).message;
      expect(msg).toMatch(new RegExp(`^ttl_ms: .* is outside 0\\.\\.${MAX_TTL_MS} milliseconds$`));
    }
    expect(rejection(() => checkTtl(-5, 'entries[1].ttl_ms')).message).toMatch(/^entries\[1\]\.ttl_ms: -5/);
  });

  it('caps TTLs at about 49.7 days, so nanoseconds sent as milliseconds are caught', () => {
    expect(MAX_TTL_MS).toBe(2 ** 32);
    expect(() => checkTtl(30 * 24 * 3600 * 1000)).not.toThrow();
    expect(rejection(() => checkTtl(60 * 1e9)).message).toMatch(/outside/);
  });
});

describe('limits', () => {
  it('are LIMIT_EXCEEDED naming the field and the limit', () => {
    const cases: Array<[() => unknown, string, number]> = [
      [() => checkKey(limits, '123456789', 'keys[1]'), 'keys[1]', 8],
      [() => checkValue(limits, Buffer.alloc(17)), 'value', 16],
      [() => checkBatch(limits, 4, 'entries'), 'entries', 3],
      [() => checkTtl(MAX_TTL_MS + 1), 'ttl_ms', MAX_TTL_MS],
    ];
    for (const [fn, field, limit] of cases) {
      const err = rejection(fn);
      expect(err).toBeInstanceOf(LimitExceededError);
      expect(err).toMatchObject({ code: 'LIMIT_EXCEEDED', field, limit });
    }
  });

  it('leave input no limit could make valid as INVALID_ARGUMENT', () => {
    expect(rejection(() => checkKey(limits, '')).code).toBe('INVALID_ARGUMENT');
    expect(rejection(() => checkTtl(-1)).code).toBe('INVALID_ARGUMENT');
  });
});
