// DnsDiscovery against a real DNS server on 127.0.0.1 (node/test/support/dns-server.ts),
// queried through the same node:dns Resolver the node uses.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Resolver } from 'node:dns/promises';
import { createSocket } from 'node:dgram';
import { DnsDiscovery, StaticDiscovery, memberName, type MemberMap } from '../../src/cluster/discovery.js';
import {
  TYPE_A,
  TYPE_SRV,
  TestDnsServer,
  decodeName,
  decodeQuery,
  encodeName,
} from '../support/dns-server.js';

const SERVICE = 'demo-peers.ns.svc.cluster.local';
const SRV_NAME = `_peer._tcp.${SERVICE}`;

let dns: TestDnsServer;

beforeAll(async () => {
  dns = await TestDnsServer.start();
});

afterAll(async () => {
  await dns?.stop();
});

beforeEach(() => {
  dns.clear();
  dns.takeQueries();
});

function discovery(opts: { podPrefix?: string; maxOrdinal?: number; server?: string } = {}): DnsDiscovery {
  return new DnsDiscovery({
    service: SERVICE,
    portName: 'peer',
    podPrefix: opts.podPrefix ?? '',
    peerPort: 50052,
    server: opts.server ?? dns.address,
    ...(opts.maxOrdinal !== undefined ? { maxOrdinal: opts.maxOrdinal } : {}),
  });
}

const sorted = (m: MemberMap): Array<[string, string]> => [...m].sort(([a], [b]) => a.localeCompare(b));

/**
 * The error a promise rejects with (fails the test if it resolves). Errors of
 * node:dns come from another realm than jest's, so `instanceof Error` is not
 * the test.
 */
async function rejection(p: Promise<unknown>): Promise<Error> {
  const out = await p.then(
    (v) => ({ resolved: v }),
    (e: unknown) => e,
  );
  expect(out).not.toHaveProperty('resolved');
  expect(typeof (out as Error).message).toBe('string');
  return out as Error;
}

describe('the test DNS server', () => {
  const resolver = (): Resolver => {
    const r = new Resolver({ timeout: 2000, tries: 1 });
    r.setServers([dns.address]);
    return r;
  };

  it('answers A and SRV queries from its table, as node:dns reads them', async () => {
    dns.setA('host.test', ['127.1.2.3', '127.1.2.4']);
    dns.setSrv('_x._tcp.svc.test', [{ target: 'host.test', port: 1234, priority: 1, weight: 5 }]);
    expect((await resolver().resolve4('host.test')).sort()).toEqual(['127.1.2.3', '127.1.2.4']);
    expect(await resolver().resolveSrv('_x._tcp.svc.test')).toEqual([
      { name: 'host.test', port: 1234, priority: 1, weight: 5 },
    ]);
    expect(dns.takeQueries()).toEqual([
      { name: 'host.test', type: TYPE_A },
      { name: '_x._tcp.svc.test', type: TYPE_SRV },
    ]);
  });

  it('answers NXDOMAIN for an unknown name and NODATA for a known name without that type', async () => {
    dns.setA('host.test', ['127.1.2.3']);
    expect(await rejection(resolver().resolve4('nobody.test'))).toMatchObject({ code: 'ENOTFOUND' });
    expect(await rejection(resolver().resolveSrv('host.test'))).toMatchObject({ code: 'ENODATA' });
  });

  it('answers SERVFAIL for a name set failing, until it is set back', async () => {
    dns.setA('flaky.test', ['127.1.2.3']);
    dns.setFailing('flaky.test');
    expect(await rejection(resolver().resolve4('flaky.test'))).toMatchObject({ code: 'ESERVFAIL' });
    dns.setFailing('flaky.test', false);
    expect(await resolver().resolve4('flaky.test')).toEqual(['127.1.2.3']);
  });

  it('matches names without regard to case or a trailing dot, and sees changes at once', async () => {
    dns.setA('Host.Test.', ['127.1.2.3']);
    expect(await resolver().resolve4('HOST.test')).toEqual(['127.1.2.3']);
    dns.setA('host.test', ['127.9.9.9']);
    expect(await resolver().resolve4('host.test')).toEqual(['127.9.9.9']);
    dns.remove('host.test');
    expect(await rejection(resolver().resolve4('host.test'))).toMatchObject({ code: 'ENOTFOUND' });
  });

  it('encodes and decodes names, and refuses malformed queries', () => {
    const name = encodeName('demo-0.Example.org.');
    expect([...name]).toEqual([
      6,
      ...Buffer.from('demo-0'),
      7,
      ...Buffer.from('example'),
      3,
      ...Buffer.from('org'),
      0,
    ]);
    expect(decodeName(name, 0)).toEqual({ name: 'demo-0.example.org', next: name.length });
    // A pointer back to the start of the message, as in compressed answers.
    const withPointer = Buffer.concat([name, Buffer.from([0xc0, 0x00])]);
    expect(decodeName(withPointer, name.length)).toEqual({
      name: 'demo-0.example.org',
      next: withPointer.length,
    });
    const loop = Buffer.from([0xc0, 0x00]);
    expect(() => decodeName(loop, 0)).toThrow(/loop/);
    expect(() => decodeQuery(Buffer.alloc(5))).toThrow(/header/);
    // A FORMERR answer keeps the query's id.
    const junk = Buffer.from([0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 60]);
    const reply = dns.answer(junk)!;
    expect(reply.readUInt16BE(0)).toBe(0xabcd);
    expect(reply.readUInt16BE(2) & 0x0f).toBe(1);
  });

  it('answers over a raw UDP socket too (not only through c-ares)', async () => {
    dns.setA('raw.test', ['127.0.0.9']);
    const sock = createSocket('udp4');
    try {
      const header = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
      const tail = Buffer.from([0, TYPE_A, 0, 1]);
      const query = Buffer.concat([header, encodeName('raw.test'), tail]);
      const reply = await new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no DNS answer within 2 s')), 2000);
        sock.once('message', (msg) => {
          clearTimeout(timer);
          resolve(msg);
        });
        sock.send(query, dns.port, '127.0.0.1');
      });
      expect(reply.readUInt16BE(0)).toBe(0x1234);
      expect(reply.readUInt16BE(2) & 0x8000).toBe(0x8000); // a response
      expect(reply.readUInt16BE(6)).toBe(1); // one answer
      expect([...reply.subarray(reply.length - 4)]).toEqual([127, 0, 0, 9]);
    } finally {
      sock.close();
    }
  });
});

/** Pod i of the StatefulSet: its host name in the headless Service, and its IP. */
const pod = (i: number): string => `demo-${i}.${SERVICE}`;
const ipOf = (i: number): string => `127.0.0.${11 + i}`;

/**
 * The peer address discovery reports for pod i: the pod's IP as the
 * configured DNS server resolves it, with the port (the node connects where
 * DNS says the pod is, not through the system resolver).
 */
const addressOf = (i: number, port = 50052): string => `${ipOf(i)}:${port}`;

/** A records of pods `from`..`to`-1, as a headless Service publishes them. */
function publishPods(to: number, from = 0): void {
  for (let i = from; i < to; i++) dns.setA(pod(i), [ipOf(i)]);
}

/** SRV records naming pods 0..n-1, each with its A record. */
function publishSrv(n: number, port = 50052): void {
  publishPods(n);
  dns.setSrv(
    SRV_NAME,
    Array.from({ length: n }, (_, i) => ({ target: pod(i), port })),
  );
}

describe('DnsDiscovery from SRV records', () => {
  it('names each member by the first label of its SRV target, at its address and port', async () => {
    publishSrv(3);
    expect(sorted(await discovery().members())).toEqual([
      ['demo-0', addressOf(0)],
      ['demo-1', addressOf(1)],
      ['demo-2', addressOf(2)],
    ]);
  });

  it("uses each record's own port", async () => {
    publishPods(2);
    dns.setSrv(SRV_NAME, [
      { target: pod(0), port: 6000 },
      { target: pod(1), port: 6001 },
    ]);
    expect(sorted(await discovery().members())).toEqual([
      ['demo-0', addressOf(0, 6000)],
      ['demo-1', addressOf(1, 6001)],
    ]);
  });

  it('follows the records as they change: a scale up, then a scale down', async () => {
    const d = discovery();
    publishSrv(3);
    expect([...(await d.members()).keys()].sort()).toEqual(['demo-0', 'demo-1', 'demo-2']);
    publishSrv(5);
    expect([...(await d.members()).keys()].sort()).toEqual([
      'demo-0',
      'demo-1',
      'demo-2',
      'demo-3',
      'demo-4',
    ]);
    publishSrv(2);
    expect([...(await d.members()).keys()].sort()).toEqual(['demo-0', 'demo-1']);
  });

  it('asks for the SRV records of _PORTNAME._tcp.SERVICE first', async () => {
    publishSrv(1);
    await discovery().members();
    expect(dns.takeQueries()[0]).toEqual({ name: SRV_NAME, type: TYPE_SRV });
  });

  it('fails without SRV records when there is no pod prefix to fall back on (the caller keeps its list)', async () => {
    publishPods(3);
    const err = await rejection(discovery().members());
    expect(err).toMatchObject({ code: 'ENOTFOUND' });
  });
});

describe('DnsDiscovery from A records of pod names', () => {
  it('without SRV records, probes PREFIX-0.SERVICE, PREFIX-1.SERVICE, ... and keeps the pods after a missing one', async () => {
    publishPods(2);
    // demo-2 is missing (deleted, its replacement has no IP yet): demo-3 and demo-4 stay members.
    publishPods(5, 3);
    expect(sorted(await discovery({ podPrefix: 'demo' }).members())).toEqual([
      ['demo-0', addressOf(0)],
      ['demo-1', addressOf(1)],
      ['demo-3', addressOf(3)],
      ['demo-4', addressOf(4)],
    ]);
  });

  it('ends the A-record probe after a run of missing ordinals, not at maxOrdinal', async () => {
    publishPods(2);
    await discovery({ podPrefix: 'demo' }).members();
    const asked = dns.takeQueries().filter((q) => q.type === TYPE_A).length;
    expect(asked).toBeGreaterThan(2);
    expect(asked).toBeLessThanOrEqual(2 + 16);
  });

  it('follows the A records as pods come and go', async () => {
    const d = discovery({ podPrefix: 'demo' });
    publishPods(1);
    expect([...(await d.members()).keys()]).toEqual(['demo-0']);
    publishPods(3);
    expect([...(await d.members()).keys()]).toEqual(['demo-0', 'demo-1', 'demo-2']);
    dns.remove(pod(2));
    expect([...(await d.members()).keys()]).toEqual(['demo-0', 'demo-1']);
  });

  it('prefers SRV records when both exist, and falls back when the SRV records go away', async () => {
    const d = discovery({ podPrefix: 'demo' });
    publishSrv(2, 7000);
    expect(sorted(await d.members())).toEqual([
      ['demo-0', addressOf(0, 7000)],
      ['demo-1', addressOf(1, 7000)],
    ]);
    dns.setSrv(SRV_NAME, []);
    dns.remove(pod(1));
    expect(sorted(await d.members())).toEqual([['demo-0', addressOf(0)]]);
  });

  it('stops the probe at maxOrdinal', async () => {
    publishPods(6);
    expect([...(await discovery({ podPrefix: 'demo', maxOrdinal: 4 }).members()).keys()]).toEqual([
      'demo-0',
      'demo-1',
      'demo-2',
      'demo-3',
    ]);
  });

  it('fails, naming the first pod, when neither SRV nor A records exist', async () => {
    const err = await rejection(discovery({ podPrefix: 'demo' }).members());
    expect(err.message).toBe(`no A records for ${pod(0)}`);
  });
});

describe('DnsDiscovery without a DNS server', () => {
  it('fails (so the caller keeps its last list) when the server does not answer', async () => {
    // A port nobody listens on: a bound-then-closed socket's port.
    const probe = createSocket('udp4');
    await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', () => resolve()));
    const deadPort = probe.address().port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await rejection(discovery({ podPrefix: '', server: `127.0.0.1:${deadPort}` }).members());
  }, 20_000);
});

describe('memberName and StaticDiscovery', () => {
  it('takes the first label of a target, with or without the trailing dot', () => {
    expect(memberName(`demo-0.${SERVICE}.`)).toBe('demo-0');
    expect(memberName(`demo-12.${SERVICE}`)).toBe('demo-12');
    expect(memberName('single')).toBe('single');
  });

  it('returns the static list it was given', async () => {
    const peers = new Map([
      ['kv-0', '127.0.0.1:50052'],
      ['kv-1', '127.0.0.2:50052'],
    ]);
    const d = new StaticDiscovery(peers);
    expect(sorted(await d.members())).toEqual(sorted(peers));
    expect(d.description).toMatch(/2 members/);
  });
});

describe('DnsDiscovery under a transient DNS failure', () => {
  it('fails (so the caller keeps its list) rather than shrinking the list when one pod name answers SERVFAIL', async () => {
    const d = discovery({ podPrefix: 'demo' });
    publishPods(3);
    expect([...(await d.members()).keys()]).toEqual(['demo-0', 'demo-1', 'demo-2']);
    dns.setFailing(pod(1));
    await rejection(d.members());
    dns.setFailing(pod(1), false);
    expect([...(await d.members()).keys()]).toEqual(['demo-0', 'demo-1', 'demo-2']);
  });
});
