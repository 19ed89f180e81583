// The bearer tokens the client port accepts: KVRING_AUTH_TOKEN and/or the
// tokens of KVRING_AUTH_TOKEN_FILE (one per line; blank lines and lines
// starting with # are ignored), the file reloaded when it changes. A
// rotation adds the new token next to the old one, moves the clients over,
// then removes the old one: no client is refused at any step.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ServerUnaryCall } from '@grpc/grpc-js';
import { UnauthenticatedError } from '../errors.js';
import type { Logger } from '../log.js';
import type { NodeMetrics } from '../metrics.js';
import { followFiles, type FileWatch, type ReloadOptions } from '../util/file-watch.js';

export type Authorize = (
  call: Pick<ServerUnaryCall<unknown, unknown>, 'metadata'>,
) => UnauthenticatedError | undefined;

/** Header-safe: visible ASCII, no spaces (the token travels as `Bearer <token>`). */
const TOKEN = /^[\x21-\x7e]{1,4096}$/;

/** The tokens of a token file's text; throws naming the line at fault, or when there is none. */
export function parseTokens(text: string, file: string): string[] {
  const out: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (!TOKEN.test(line))
      throw new Error(`${file} line ${i + 1}: a token is 1 to 4096 visible ASCII characters without spaces`);
    out.push(line);
  });
  if (out.length === 0) throw new Error(`${file}: no token (one per line)`);
  return out;
}

const digest = (s: string | Buffer): Buffer => createHash('sha256').update(s).digest();

export class AcceptedTokens {
  /** SHA-256 of each accepted token: equal lengths for timingSafeEqual, whatever the tokens' lengths. */
  private digests: Buffer[];
  private watch: FileWatch | undefined;

  /** Throws when the file cannot be read or holds no token (the node does not start). */
  constructor(
    private readonly fixed: string,
    readonly file: string,
    private readonly log: Logger,
    private readonly metrics: NodeMetrics,
  ) {
    this.digests = this.read();
  }

  get count(): number {
    return this.digests.length;
  }

  private read(): Buffer[] {
    const tokens = this.fixed ? [this.fixed] : [];
    if (this.file) tokens.push(...parseTokens(readFileSync(this.file, 'utf8'), this.file));
    return [...new Set(tokens)].map(digest);
  }

  start(opts: ReloadOptions): void {
    if (!this.file) return;
    this.watch = followFiles('token file', [this.file], () => this.reload(), opts, this.log);
  }

  close(): void {
    this.watch?.close();
  }

  /** Reads the file again; an unreadable or empty file keeps the tokens accepted now. */
  reload(): void {
    let next: Buffer[];
    try {
      next = this.read();
    } catch (err) {
      this.metrics.reloads.inc({ what: 'tokens', result: 'rejected' });
      this.log.error(
        { err: (err as Error).message, keeping: this.digests.length },
        'token file refused; the node keeps accepting its current tokens',
      );
      return;
    }
    const same = next.length === this.digests.length && next.every((d, i) => d.equals(this.digests[i]!));
    if (same) return;
    this.digests = next;
    this.metrics.reloads.inc({ what: 'tokens', result: 'applied' });
    this.log.info({ tokens: next.length }, 'accepted client tokens reloaded');
  }

  readonly authorize: Authorize = (call) => {
    const got = call.metadata.get('authorization')[0];
    const header = typeof got === 'string' ? got : '';
    if (header === '')
      return new UnauthenticatedError('missing authorization: send "authorization: Bearer <token>"');
    const given = digest(header.startsWith('Bearer ') ? header.slice(7) : '\0not-bearer');
    // Every accepted token is compared, so the time taken does not say which one nearly matched.
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(given, d) || ok;
    return ok ? undefined : new UnauthenticatedError('invalid token');
  };
}
