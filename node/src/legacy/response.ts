// Turns a legacy API answer body into the bytes a node stores. The prototype
// answers `{"key": ..., "value": ...}`; a string value is stored as its UTF-8
// bytes, any other JSON value (object, array, number, boolean) as its JSON
// text. A body that is not such an object, or whose value is missing or null,
// is a bad response: storing a guess would hydrate garbage into PostgreSQL.
import type { Readable } from 'node:stream';
import { LegacyUnavailableError } from './errors.js';

/** Largest body read before giving up (JSON escaping can grow a value). */
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

export function decodeLegacyValue(body: string): Buffer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw new LegacyUnavailableError(
      'LEGACY_BAD_RESPONSE',
      'legacy API answered 200 with a body that is not JSON',
      {
        cause: err,
      },
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new LegacyUnavailableError('LEGACY_BAD_RESPONSE', 'legacy API answered 200 without a JSON object');
  }
  const value = (parsed as { value?: unknown }).value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value === undefined || value === null) {
    throw new LegacyUnavailableError('LEGACY_BAD_RESPONSE', 'legacy API answered 200 without a "value"');
  }
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** Reads a whole body as UTF-8, failing (and discarding the rest) past `maxBytes`. */
export async function readBodyText(
  body: Readable & AsyncIterable<Buffer>,
  maxBytes: number,
): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > maxBytes) {
      body.destroy();
      throw new LegacyUnavailableError('LEGACY_BAD_RESPONSE', `legacy API body exceeds ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, total).toString('utf8');
}
