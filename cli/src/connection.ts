// How the CLI reaches a cluster: the addresses (a DNS name such as a
// Kubernetes headless Service stands for every address it resolves to) and
// the channel security (TLS with a CA, an optional client certificate, a
// server name to verify, and the bearer token).
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import { credentials } from '@grpc/grpc-js';
import type { ClientOptions } from '@kvring/client';

export interface TlsFlags {
  /** PEM CA that signed the nodes' certificate; turns TLS on. */
  readonly tlsCa?: string;
  /** PEM client certificate and key (when the port asks for one). */
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  /** The name the nodes' certificate must carry (default: the host given in --addr). */
  readonly tlsServerName?: string;
  /** TLS with the system's CAs (no --tls-ca). */
  readonly tls?: boolean;
}

/** A failure of the command line's connection settings (exit 2), naming the flag. */
export class ConnectionSettingsError extends Error {
  override readonly name = 'ConnectionSettingsError';
}

function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConnectionSettingsError(
      `${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
}

/**
 * The addresses to dial: each host:port whose host is a DNS name becomes
 * every address the name resolves to (all pods behind a headless Service),
 * so the client can fail over between them. Literal IPs pass through.
 */
export async function expandAddresses(addresses: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of addresses) {
    const cut = a.lastIndexOf(':');
    const host = a.slice(0, cut).replace(/^\[(.*)\]$/, '$1');
    const port = a.slice(cut + 1);
    if (isIP(host) !== 0) {
      out.push(a);
      continue;
    }
    let found: Array<{ address: string; family: number }>;
    try {
      found = await lookup(host, { all: true });
    } catch (err) {
      throw new ConnectionSettingsError(
        `--addr ${a}: cannot resolve ${host} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
    for (const f of found) out.push(f.family === 6 ? `[${f.address}]:${port}` : `${f.address}:${port}`);
  }
  return [...new Set(out)];
}

/** The first DNS name among the addresses, for certificate verification. */
function firstHostName(addresses: readonly string[]): string | undefined {
  for (const a of addresses) {
    const host = a.slice(0, a.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1');
    if (isIP(host) === 0) return host;
  }
  return undefined;
}

/**
 * Client options for the flags. With TLS and a DNS name in --addr, the
 * certificate is checked against that name even though the resolved IPs
 * are dialled (what a browser would check for the name typed).
 */
export function clientOptions(
  given: readonly string[],
  settings: TlsFlags & { token?: string; timeoutMs: number },
): ClientOptions {
  // An empty variable (KVRING_TLS_CA_FILE= in a manifest) means unset.
  const flags = {
    tls: settings.tls,
    tlsCa: settings.tlsCa || undefined,
    tlsCert: settings.tlsCert || undefined,
    tlsKey: settings.tlsKey || undefined,
    tlsServerName: settings.tlsServerName || undefined,
  };
  const base = { timeoutMs: settings.timeoutMs, token: settings.token || undefined };
  const tlsOn = flags.tls === true || flags.tlsCa !== undefined || flags.tlsCert !== undefined;
  if (!tlsOn) return base;
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined))
    throw new ConnectionSettingsError('--tls-cert and --tls-key go together: give both or neither');
  const ca = flags.tlsCa === undefined ? null : readPem(flags.tlsCa, '--tls-ca');
  const key = flags.tlsKey === undefined ? null : readPem(flags.tlsKey, '--tls-key');
  const cert = flags.tlsCert === undefined ? null : readPem(flags.tlsCert, '--tls-cert');
  const serverName = flags.tlsServerName ?? firstHostName(given);
  return {
    ...base,
    credentials: credentials.createSsl(ca, key, cert),
    ...(serverName !== undefined && {
      channelOptions: { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName },
    }),
  };
}
