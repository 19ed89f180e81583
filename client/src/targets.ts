// What the client was told to dial: host:port targets, each an IP literal
// (dialled as is) or a DNS name that stands for every address it resolves
// to (a Kubernetes headless Service answers one A/AAAA record per pod).
// The resolver is an interface so tests can answer without DNS traffic.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/** Resolves a host name to all its IP addresses (A and AAAA). */
export interface AddressResolver {
  /** Every address of `host`; rejects when the name cannot be resolved. */
  resolve(host: string): Promise<readonly string[]>;
}

/**
 * The system resolver (getaddrinfo, so /etc/hosts and the search domains
 * apply as for any other program in the pod).
 */
export const systemResolver: AddressResolver = {
  async resolve(host) {
    return (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  },
};

export interface Target {
  /** The host as given, without brackets. */
  readonly host: string;
  readonly port: string;
  /** True for an IP literal: dialled as is, never resolved. */
  readonly literal: boolean;
  /** host:port as gRPC dials it. */
  readonly address: string;
}

/**
 * Parses `host:port`, `[v6]:port` or `dns:///host:port`. Anything else
 * (a unix: socket, a name without a port) is handed to gRPC as is.
 */
export function parseTarget(given: string): Target {
  const text = given.trim().replace(/^dns:\/{0,3}/, '');
  const cut = text.lastIndexOf(':');
  const host = cut > 0 ? text.slice(0, cut).replace(/^\[(.*)\]$/, '$1') : '';
  const port = cut > 0 ? text.slice(cut + 1) : '';
  if (!host || !/^\d{1,5}$/.test(port) || given.startsWith('unix:'))
    return { host: given, port: '', literal: true, address: given };
  return { host, port, literal: isIP(host) !== 0, address: joinHostPort(host, port) };
}

export function joinHostPort(host: string, port: string): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The host of a host:port address (brackets removed). */
export function hostOf(address: string): string {
  const cut = address.lastIndexOf(':');
  return (cut > 0 ? address.slice(0, cut) : address).replace(/^\[(.*)\]$/, '$1');
}
