// Certificate, CA and token rotation on 3 running node processes, their TLS
// files and tokens in a folder laid out and updated like a Kubernetes
// Secret volume, under a steady client load: no handshake or
// UNAUTHENTICATED error, no restart, and new handshakes present the new
// certificate. A bad pair is refused and the old one kept.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { credentials, status } from '@grpc/grpc-js';
import { KvClient, KvClientError } from '@kvring/client';
import { randomSubnet, startLocalCluster, type LocalCluster } from '@kvring/devcluster/local-cluster';
import { makeCerts, makeLeaf, type CertFiles } from '@kvring/test-support/certs';
import { SecretVolume } from '@kvring/test-support/secret-volume';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

const subnet = randomSubnet();
const hosts = [1, 2, 3].map((i) => `${subnet}.${i}`);
let db: TestPostgres;
let cluster: LocalCluster;
let ca1: CertFiles; // CA 1 and its first leaf
let ca1b: CertFiles; // a second leaf of CA 1
let ca2: CertFiles; // CA 2 and its leaf
let volume: SecretVolume;
let bundle: Buffer; // CA 1 + CA 2, what clients trust throughout

interface SecretContent {
  leaf: CertFiles;
  key?: CertFiles;
  ca: Buffer;
  tokens: string;
}
function files(s: SecretContent): Record<string, Buffer | string> {
  return {
    'tls.crt': s.leaf.read(s.leaf.cert),
    'tls.key': (s.key ?? s.leaf).read((s.key ?? s.leaf).key),
    'ca.crt': s.ca,
    tokens: s.tokens,
  };
}

const serialOf = (c: CertFiles): string => new X509Certificate(c.read(c.cert)).serialNumber;

beforeAll(async () => {
  ca1 = makeCerts({ ips: hosts, caCn: 'kvring-rotation-ca-1' });
  ca1b = makeLeaf(ca1, { ips: hosts });
  ca2 = makeCerts({ ips: hosts, caCn: 'kvring-rotation-ca-2' });
  bundle = Buffer.concat([ca1.read(ca1.caCert), ca2.read(ca2.caCert)]);
  volume = new SecretVolume(files({ leaf: ca1, ca: ca1.read(ca1.caCert), tokens: 'token-one\n' }));
  db = await startPostgres();
  cluster = await startLocalCluster({
    subnet,
    postgresUrl: db.url,
    env: {
      KVRING_TLS_CERT_FILE: volume.path('tls.crt'),
      KVRING_TLS_KEY_FILE: volume.path('tls.key'),
      KVRING_TLS_CA_FILE: volume.path('ca.crt'),
      KVRING_AUTH_TOKEN_FILE: volume.path('tokens'),
    },
  });
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  await db?.destroy();
}, 60_000);

interface Handshake {
  /** Serial number of the certificate the server presented ('' if none). */
  serial: string;
  /** The server's certificate verified against the trusted CAs. */
  authorized: boolean;
  /** The server went on to speak HTTP/2 (sent its SETTINGS): it accepted this client. */
  accepted: boolean;
}

/**
 * One new TLS handshake with `host:port` (trusting `ca`, presenting `client`
 * if given). A server that refuses the client certificate closes the
 * connection once the TLS handshake is done; one that accepts it starts
 * HTTP/2 and sends its SETTINGS frame, so the first byte of data decides.
 */
function handshake(host: string, port: number, ca: Buffer, client?: CertFiles): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = connect({
      host,
      port,
      ca,
      servername: '',
      ALPNProtocols: ['h2'],
      rejectUnauthorized: false,
      ...(client && { cert: client.read(client.cert), key: client.read(client.key) }),
    });
    let serial = '';
    let accepted = false;
    socket.setTimeout(5000, () => socket.destroy());
    socket.once('secureConnect', () => (serial = socket.getPeerCertificate().serialNumber));
    socket.once('data', () => {
      accepted = true;
      socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.once('close', () => resolve({ serial, authorized: socket.authorized, accepted }));
  });
}

/**
 * Waits until every node presents `serial` on a new handshake to both ports
 * (the reload is asynchronous to the file swap: this is the event awaited).
 */
async function presentEverywhere(serial: string): Promise<number> {
  const start = Date.now();
  const deadline = start + 15_000;
  for (;;) {
    const seen = await Promise.all(
      hosts.flatMap((h) => [50051, 50052].map((p) => handshake(h, p, bundle, ca2).then((r) => r.serial))),
    );
    if (seen.every((s) => s === serial)) return Date.now() - start;
    if (Date.now() > deadline) throw new Error(`nodes present ${seen.join(', ')}, expected ${serial}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Steady load: long-lived clients, plus a new connection (a new handshake) per call on another worker. */
class Load {
  token = 'token-one';
  ok = 0;
  fresh = 0;
  readonly errors = new Map<string, number>();
  private stopped = false;
  private readonly runs: Promise<void>[] = [];
  private waiters: { at: number; resolve: () => void }[] = [];

  /** Resolves once `n` more calls succeeded. */
  progressed(n: number): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ at: this.ok + n, resolve }));
  }

  private succeeded(n: number): void {
    this.ok += n;
    const due = this.waiters.filter((w) => w.at <= this.ok);
    this.waiters = this.waiters.filter((w) => w.at > this.ok);
    for (const w of due) w.resolve();
  }

  private client(fresh: boolean): KvClient {
    return new KvClient(cluster.clientAddresses, {
      credentials: credentials.createSsl(bundle),
      token: this.token,
      // Its own subchannels: otherwise grpc-js reuses another client's connection and no handshake happens.
      ...(fresh && { channelOptions: { 'grpc.use_local_subchannel_pool': 1 } }),
    });
  }

  private record(err: unknown): void {
    const code = err instanceof KvClientError ? (status[err.code] ?? String(err.code)) : String(err);
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  start(): void {
    for (let w = 0; w < 3; w++)
      this.runs.push(
        (async () => {
          let kv = this.client(false);
          let token = this.token;
          for (let i = 0; !this.stopped; i++) {
            if (token !== this.token) {
              kv.close();
              kv = this.client(false);
              token = this.token;
            }
            const key = `rot:${w}:${i % 50}`;
            try {
              await kv.set(key, `v${i}`);
              await kv.get(key);
              this.succeeded(2);
            } catch (err) {
              this.record(err);
            }
          }
          kv.close();
        })(),
      );
    this.runs.push(
      (async () => {
        while (!this.stopped) {
          const kv = this.client(true);
          try {
            await kv.get('rot:fresh');
            this.fresh++;
          } catch (err) {
            this.record(err);
          }
          kv.close();
        }
      })(),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.runs);
  }
}

async function incarnations(): Promise<string[]> {
  return Promise.all(
    cluster.nodes.map(async (n) => {
      const res = await fetch(`${n.httpUrl}/status`);
      return ((await res.json()) as { incarnation: string }).incarnation;
    }),
  );
}

async function reloads(what: string, result: string): Promise<number> {
  let sum = 0;
  for (const n of cluster.nodes) {
    const text = await (await fetch(`${n.httpUrl}/metrics`)).text();
    const m = new RegExp(
      `^kvring_reloads_total\\{[^}]*what="${what}",result="${result}"[^}]*\\} (\\d+)`,
      'm',
    ).exec(text);
    sum += m ? Number(m[1]) : 0;
  }
  return sum;
}

/** Waits until the nodes' reload counter for `what`/`result` reaches `n` in sum. */
async function reloadsReach(what: string, result: string, n: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while ((await reloads(what, result)) < n) {
    if (Date.now() > deadline) throw new Error(`kvring_reloads_total{what=${what},result=${result}} < ${n}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('rotation under load, without restarts', () => {
  it('rotates the pair, then the CA through a two-CA bundle, then the tokens: zero errors', async () => {
    const before = await incarnations();
    await presentEverywhere(serialOf(ca1));
    const load = new Load();
    load.start();
    try {
      const tokens = 'token-one\n';

      // 1. A new pair from the same CA.
      volume.update(files({ leaf: ca1b, ca: ca1.read(ca1.caCert), tokens }));
      const pairMs = await presentEverywhere(serialOf(ca1b));
      // 2. The bundle gains CA 2; 3. the pair moves to CA 2; 4. CA 1 leaves the bundle.
      volume.update(files({ leaf: ca1b, ca: bundle, tokens }));
      await reloadsReach('tls', 'applied', 6);
      volume.update(files({ leaf: ca2, ca: bundle, tokens }));
      const caMs = await presentEverywhere(serialOf(ca2));
      console.log(
        `new serial on every port of every node: ${pairMs} ms after the pair swap, ${caMs} ms after the CA swap`,
      );
      volume.update(files({ leaf: ca2, ca: ca2.read(ca2.caCert), tokens }));
      await reloadsReach('tls', 'applied', 12);
      // A member certificate of the retired CA no longer opens the peer port; CA 2's does.
      const retired = await handshake(hosts[0]!, 50052, bundle, ca1b);
      expect(retired).toEqual({ serial: serialOf(ca2), authorized: true, accepted: false });
      const current = await handshake(hosts[0]!, 50052, bundle, ca2);
      expect(current).toEqual({ serial: serialOf(ca2), authorized: true, accepted: true });

      // 5. Tokens: the new one joins, the clients move, the old one leaves.
      const fixed = { leaf: ca2, ca: ca2.read(ca2.caCert) };
      volume.update(files({ ...fixed, tokens: 'token-one\ntoken-two\n' }));
      await reloadsReach('tokens', 'applied', 3);
      load.token = 'token-two';
      await load.progressed(300);
      volume.update(files({ ...fixed, tokens: 'token-two\n' }));
      await reloadsReach('tokens', 'applied', 6);
      await load.progressed(300);
    } finally {
      await load.stop();
    }

    console.log(
      `rotation under load: ${load.ok} calls ok, ${load.fresh} on new connections, errors ${JSON.stringify(Object.fromEntries(load.errors))}`,
    );
    expect(Object.fromEntries(load.errors)).toEqual({});
    expect(load.fresh).toBeGreaterThan(0);
    expect(await incarnations()).toEqual(before);

    // The retired token is refused now.
    const old = new KvClient(cluster.clientAddresses[0]!, {
      credentials: credentials.createSsl(bundle),
      token: 'token-one',
    });
    const err = await old.get('rot:x').then(
      () => undefined,
      (e: unknown) => e,
    );
    old.close();
    expect(err).toBeInstanceOf(KvClientError);
    expect((err as KvClientError).code).toBe(status.UNAUTHENTICATED);
  }, 120_000);

  it('refuses a bad pair or an empty token file and keeps what it had', async () => {
    const good = { leaf: ca2, ca: ca2.read(ca2.caCert), tokens: 'token-two\n' };
    const rejected = await reloads('tls', 'rejected');
    // The key of another certificate.
    volume.update(files({ ...good, key: ca1b }));
    await reloadsReach('tls', 'rejected', rejected + 3);
    // A leaf no CA of the bundle signed.
    volume.update(files({ ...good, leaf: ca1b }));
    await reloadsReach('tls', 'rejected', rejected + 6);
    await presentEverywhere(serialOf(ca2));
    const tokenRejects = await reloads('tokens', 'rejected');
    volume.update(files({ ...good, tokens: '# nobody\n' }));
    await reloadsReach('tokens', 'rejected', tokenRejects + 3);
    const kv = new KvClient(cluster.clientAddresses, {
      credentials: credentials.createSsl(ca2.read(ca2.caCert)),
      token: 'token-two',
    });
    await kv.set('rot:after-bad', 'still served');
    expect((await kv.get('rot:after-bad')).value.toString()).toBe('still served');
    kv.close();
    // Back to good files: they are taken again.
    volume.update(files({ ...good, leaf: ca2 }));
    await presentEverywhere(serialOf(ca2));
  }, 60_000);

  it('members dial a restarted peer with the rotated pair and CA (their outgoing side)', async () => {
    // The rotation above kept every peer connection open; a member that
    // comes back makes the others open new ones, with what they reloaded.
    const kv2 = cluster.node('kv-2');
    await kv2.stop();
    await kv2.startReady();
    await cluster.waitConverged();
  }, 60_000);
});
