// `kvring cluster status`: one node's view of the cluster (members, their
// state, ring ownership, quorums, dependencies), then every member asked
// for its own view, to show whether the ring has converged (every member
// reports the same ring hash).
import { MemberState, type ClusterInfoResponse, type KvClient } from '@kvring/client';
import { renderTable } from '@kvring/format/table';
import { EXIT_FAILED, EXIT_OK, describeError, type Io } from './output.js';

export interface MemberView {
  readonly name: string;
  /** As the asked node sees it. */
  readonly state: 'self' | 'up' | 'down' | 'unknown';
  readonly clientAddress: string;
  readonly ownership: number;
  readonly incarnation: string;
  /** The member's own answer, or why there is none. */
  readonly info: ClusterInfoResponse | undefined;
  readonly error: string | undefined;
}

export interface ClusterStatus {
  /** The address that answered first. */
  readonly asked: string;
  readonly info: ClusterInfoResponse;
  readonly members: readonly MemberView[];
  /** Every member answered and reported the asked node's ring hash. */
  readonly converged: boolean;
}

const STATE_NAMES: Record<number, MemberView['state']> = {
  [MemberState.MEMBER_STATE_SELF]: 'self',
  [MemberState.MEMBER_STATE_UP]: 'up',
  [MemberState.MEMBER_STATE_DOWN]: 'down',
};

/** Makes a client of exactly one node (so a failed call is not answered by another node). */
export type ConnectFn = (address: string) => KvClient;

/** ClusterInfo from the node at `address`, and only from it. */
async function askNode(connect: ConnectFn, address: string): Promise<ClusterInfoResponse> {
  const client = connect(address);
  try {
    return await client.clusterInfo(address);
  } finally {
    client.close();
  }
}

/** Asks the addresses in order until one answers, then asks every member it lists. */
export async function gatherStatus(connect: ConnectFn, addresses: readonly string[]): Promise<ClusterStatus> {
  let asked: string | undefined;
  let info: ClusterInfoResponse | undefined;
  let lastError: unknown;
  for (const address of addresses) {
    try {
      info = await askNode(connect, address);
      asked = address;
      break;
    } catch (err) {
      lastError = err;
    }
  }
  if (info === undefined || asked === undefined)
    throw lastError instanceof Error ? lastError : new Error('no address to ask');
  const first = info;
  const members = await Promise.all(
    first.members.map(async (m): Promise<MemberView> => {
      const base = {
        name: m.name,
        state: STATE_NAMES[m.state] ?? 'unknown',
        clientAddress: m.clientAddress,
        ownership: m.ownership,
        incarnation: m.incarnation,
      } as const;
      if (m.name === first.self)
        return { ...base, incarnation: first.incarnation, info: first, error: undefined };
      try {
        const own = await askNode(connect, m.clientAddress);
        if (own.self !== m.name)
          return {
            ...base,
            info: undefined,
            error: `${m.clientAddress} answered as ${own.self}, not ${m.name}`,
          };
        return { ...base, incarnation: own.incarnation || m.incarnation, info: own, error: undefined };
      } catch (err) {
        return { ...base, info: undefined, error: describeError(err) };
      }
    }),
  );
  const converged = members.every((m) => m.info !== undefined && m.info.ringHash === first.ringHash);
  return { asked, info: first, members, converged };
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

export function formatStatus(s: ClusterStatus): string {
  const { info } = s;
  const body = s.members.map((m) => [
    m.name,
    m.state,
    m.clientAddress,
    pct(m.ownership),
    m.incarnation || '-',
    m.info ? m.info.ringHash || '-' : 'unreachable',
    m.info ? yesNo(m.info.postgresReachable) : '-',
    m.info ? yesNo(m.info.legacyApiReachable) : '-',
    m.info ? String(m.info.hintsPending) : '-',
  ]);
  const table = renderTable(
    [
      'MEMBER',
      'STATE',
      'CLIENT ADDRESS',
      'OWNERSHIP',
      'INCARNATION',
      'RING HASH',
      'POSTGRESQL',
      'LEGACY API',
      'HINTS',
    ],
    body,
  );
  const reached = s.members.filter((m) => m.info !== undefined);
  const disagree = reached.filter((m) => m.info!.ringHash !== info.ringHash).map((m) => m.name);
  const unreachable = s.members.filter((m) => m.info === undefined);
  let ring = `${info.ringHash || '(none)'}: `;
  if (s.converged) ring += `all ${s.members.length} members report the same ring`;
  else {
    const parts: string[] = [];
    if (disagree.length > 0)
      parts.push(`${disagree.join(', ')} report${disagree.length === 1 ? 's' : ''} another ring`);
    if (unreachable.length > 0) parts.push(`${unreachable.map((m) => m.name).join(', ')} did not answer`);
    ring += `NOT converged (${parts.join('; ')})`;
  }
  const count = (f: (i: ClusterInfoResponse) => boolean): string =>
    `${reached.filter((m) => f(m.info!)).length}/${s.members.length} members`;
  const lines = [
    `asked ${s.asked}: ${info.self} (incarnation ${info.incarnation || '-'})${info.draining ? ', draining' : ''}`,
    '',
    table,
    '',
    `ring hash       ${ring}`,
    `replication     N=${info.replicationFactor} R=${info.readQuorum} W=${info.writeQuorum}, ${info.vnodes} virtual nodes per member`,
    `PostgreSQL      reachable from ${count((i) => i.postgresReachable)}`,
    `legacy API      reachable from ${count((i) => i.legacyApiReachable)}`,
    `hints pending   ${reached.reduce((n, m) => n + m.info!.hintsPending, 0)}`,
  ];
  for (const m of unreachable) lines.push(`${m.name} (${m.clientAddress}): ${m.error}`);
  return `${lines.join('\n')}\n`;
}

export function statusJson(s: ClusterStatus): unknown {
  const { info } = s;
  return {
    asked: s.asked,
    self: info.self,
    replicationFactor: info.replicationFactor,
    readQuorum: info.readQuorum,
    writeQuorum: info.writeQuorum,
    vnodes: info.vnodes,
    ringHash: info.ringHash,
    converged: s.converged,
    members: s.members.map((m) => ({
      name: m.name,
      state: m.state,
      clientAddress: m.clientAddress,
      ownership: m.ownership,
      incarnation: m.incarnation,
      ringHash: m.info?.ringHash ?? null,
      postgresReachable: m.info?.postgresReachable ?? null,
      legacyApiReachable: m.info?.legacyApiReachable ?? null,
      hintsPending: m.info?.hintsPending ?? null,
      draining: m.info?.draining ?? null,
      error: m.error ?? null,
    })),
  };
}

export async function statusCommand(
  connect: ConnectFn,
  addresses: readonly string[],
  io: Io,
  opts: { json: boolean; strict: boolean },
): Promise<number> {
  const s = await gatherStatus(connect, addresses);
  io.out(opts.json ? `${JSON.stringify(statusJson(s), null, 2)}\n` : formatStatus(s));
  const healthy = s.converged && s.members.every((m) => m.state !== 'down');
  return opts.strict && !healthy ? EXIT_FAILED : EXIT_OK;
}
