// How the CLI shows things: values as UTF-8 text (JSON: base64 when the bytes
// are not valid UTF-8), failed calls as `REASON: the node's message`, the
// reason being the node's ErrorInfo reason (the gRPC status name when the
// failure came from the transport and carries none).
import { KvError, LimitExceededError, Source } from '@kvring/client';
import { statusName } from '@kvring/format/status-names';

/** Where a command writes; tests and the program pass different ones. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Everything on standard input (for `set KEY -`). */
  readStdin(): Promise<Buffer>;
}

export const processIo: Io = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  },
};

/** Exit codes: 0 done, 1 failed (or not found), 2 the command line was wrong. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export interface EncodedValue {
  readonly value: string;
  readonly encoding: 'utf8' | 'base64';
}

/** A value for JSON output: the text when the bytes are valid UTF-8, else base64 (and says which). */
export function encodeValue(bytes: Uint8Array): EncodedValue {
  try {
    return { value: strictUtf8.decode(bytes), encoding: 'utf8' };
  } catch {
    return { value: Buffer.from(bytes).toString('base64'), encoding: 'base64' };
  }
}

const SOURCE_NAMES: Record<number, string> = {
  [Source.SOURCE_MEMORY]: 'memory',
  [Source.SOURCE_POSTGRES]: 'postgres',
  [Source.SOURCE_LEGACY]: 'legacy',
};

export function sourceName(source: Source): string {
  return SOURCE_NAMES[source] ?? 'unspecified';
}

/** Codes that are about reaching the node, where naming the address helps. */
const TRANSPORT_CODES = new Set(['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'UNAUTHENTICATED']);

/**
 * The one-line message of a failure, by the node's reason:
 * `LIMIT_EXCEEDED (key, limit 1024): key: 1100 bytes exceeds ...`,
 * `WRITE_IN_DOUBT: ...`, `UNAVAILABLE: ... (10.0.0.7:50051)`.
 */
export function describeError(err: unknown): string {
  if (err instanceof KvError) {
    const facts = err instanceof LimitExceededError ? ` (${err.field}, limit ${err.limit})` : '';
    const where =
      TRANSPORT_CODES.has(statusName(err.code)) && !err.details.includes(err.address)
        ? ` (${err.address})`
        : '';
    // grpc-js appends an empty "Resolution note:" to connection failures.
    const details = err.details.replace(/\.?\s*Resolution note:\s*$/, '');
    return `${err.reason}${facts}: ${details}${where}`;
  }
  return err instanceof Error ? err.message : String(err);
}
