import { describe, expect, it } from '@jest/globals';
import { Readable } from 'node:stream';
import { LegacyUnavailableError } from '../../src/legacy/errors.js';
import { decodeLegacyValue, readBodyText } from '../../src/legacy/response.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof LegacyUnavailableError
      ? err.failure
      : `not a LegacyUnavailableError: ${String(err)}`;
  }
  return undefined;
}

describe('decodeLegacyValue', () => {
  it('stores a string value as its UTF-8 bytes', () => {
    expect(decodeLegacyValue('{"key":"k","value":"héllo 🎉"}')).toEqual(Buffer.from('héllo 🎉', 'utf8'));
    expect(decodeLegacyValue('{"value":""}')).toEqual(Buffer.alloc(0));
  });

  it('stores any other JSON value as its JSON text', () => {
    expect(decodeLegacyValue('{"key":"k","value":{"a":[1,2]}}').toString()).toBe('{"a":[1,2]}');
    expect(decodeLegacyValue('{"value":12.5}').toString()).toBe('12.5');
    expect(decodeLegacyValue('{"value":false}').toString()).toBe('false');
  });

  it.each([['not json'], ['[1,2]'], ['"str"'], ['null'], ['{"key":"k"}'], ['{"value":null}']])(
    'rejects %s as LEGACY_BAD_RESPONSE',
    (body) => {
      expect(code(() => decodeLegacyValue(body))).toBe('LEGACY_BAD_RESPONSE');
    },
  );
});

describe('readBodyText', () => {
  it('joins chunks, multi-byte characters split across them included', async () => {
    const bytes = Buffer.from('{"value":"ü"}', 'utf8');
    const split = bytes.indexOf(0xc3) + 1; // inside the two bytes of ü
    const body = Readable.from([bytes.subarray(0, split), bytes.subarray(split)]);
    expect(await readBodyText(body, 100)).toBe('{"value":"ü"}');
  });

  it('fails with LEGACY_BAD_RESPONSE past maxBytes', async () => {
    const body = Readable.from([Buffer.alloc(60), Buffer.alloc(60)]);
    await expect(readBodyText(body, 100)).rejects.toMatchObject({ failure: 'LEGACY_BAD_RESPONSE' });
  });
});
