// How the CLI shows things: values as UTF-8 text (JSON: base64 when the bytes
// are not valid UTF-8), failed calls as `STATUS_NAME: the node's message`.
import { KvClientError, Source } from '@kvring/client';
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

/** The one-line message of a failure: `INVALID_ARGUMENT: key: 1100 bytes exceeds ...`. */
export function describeError(err: unknown): string {
  if (err instanceof KvClientError) {
    const name = statusName(err.code);
    const where = TRANSPORT_CODES.has(name) && !err.details.includes(err.address) ? ` (${err.address})` : '';
    // grpc-js appends an empty "Resolution note:" to connection failures.
    const details = err.details.replace(/\.?\s*Resolution note:\s*$/, '');
    return `${name}: ${details}${where}`;
  }
  return err instanceof Error ? err.message : String(err);
}
