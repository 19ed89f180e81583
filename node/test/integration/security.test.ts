// TLS on the client port, mutual TLS on the peer port and bearer-token
// authentication, on 3 real node processes.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Metadata, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { AdminClient, KvClient, KvClientError, MemberState } from '@kvring/client';
import { AdminServiceClient, type DrainResponse } from '@kvring/client/proto';
import { randomSubnet, startLocalCluster, type LocalCluster } from '@kvring/devcluster/local-cluster';
import { PeerServiceClient, type DigestResponse } from '../../src/gen/kvring/v1/peer.js';
import { makeCerts, type CertFiles } from '@kvring/test-support/certs';
import { runCli } from '../support/cli.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

const TOKEN = 'sesame-open-' + Math.random().toString(36).slice(2);
const subnet = randomSubnet();
const hosts = [1, 2, 3].map((i) => `${subnet}.${i}`);
let db: TestPostgres;
let cluster: LocalCluster;
let certs: CertFiles;
let rogue: CertFiles;

beforeAll(async () => {
  certs = makeCerts({ ips: hosts });
  rogue = makeCerts({ ips: hosts, cn: 'intruder' });
  db = await startPostgres();
  cluster = await startLocalCluster({
    subnet,
    postgresUrl: db.url,
    env: {
      KVRING_TLS_CERT_FILE: certs.cert,
      KVRING_TLS_KEY_FILE: certs.key,
      KVRING_TLS_CA_FILE: certs.caCert,
      KVRING_AUTH_TOKEN: TOKEN,
    },
  });
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  await db?.destroy();
}, 60_000);

const tls = (): ReturnType<typeof credentials.createSsl> => credentials.createSsl(certs.read(certs.caCert));

async function failure(p: Promise<unknown>): Promise<KvClientError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KvClientError);
  return err as KvClientError;
}

function digest(creds: ReturnType<typeof credentials.createSsl>): Promise<DigestResponse> {
  const c = new PeerServiceClient(`${hosts[0]}:50052`, creds);
  return new Promise((resolve, reject) =>
    c.digest({ keys: [] }, new Metadata(), { deadline: Date.now() + 5000 }, (err, res) => {
      c.close();
      if (err) reject(err);
      else resolve(res);
    }),
  );
}

describe('client port', () => {
  it('serves TLS clients that send the token, replicating over mutual TLS', async () => {
    const kv = new KvClient(cluster.clientAddresses, { credentials: tls(), token: TOKEN });
    const v = await kv.set('sec:a', 'secret');
    for (const addr of cluster.clientAddresses) {
      const one = new KvClient(addr, { credentials: tls(), token: TOKEN });
      expect((await one.get('sec:a')).version).toBe(v);
      one.close();
    }
    // W = 2 of 3 replicas applied it, so the peers talk to each other.
    const info = await kv.clusterInfo();
    expect(info.members.every((m) => m.state !== MemberState.MEMBER_STATE_DOWN)).toBe(true);
    kv.close();
  });

  it('rejects a client without the token, or with a wrong one, as UNAUTHENTICATED', async () => {
    const none = new KvClient(cluster.clientAddresses[0]!, { credentials: tls() });
    const e1 = await failure(none.get('sec:a'));
    expect(e1.code).toBe(status.UNAUTHENTICATED);
    expect(e1.details).toMatch(/missing authorization/);
    const wrong = new KvClient(cluster.clientAddresses[0]!, { credentials: tls(), token: 'guess' });
    const e2 = await failure(wrong.set('sec:b', 'x'));
    expect(e2.code).toBe(status.UNAUTHENTICATED);
    none.close();
    wrong.close();
  });

  it('refuses plaintext clients', async () => {
    const plain = new KvClient(cluster.clientAddresses[0]!, { token: TOKEN, timeoutMs: 3000 });
    const e = await failure(plain.get('sec:a'));
    expect(e.code).toBe(status.UNAVAILABLE);
    plain.close();
  });
});

describe('the kvring CLI against the TLS cluster', () => {
  // Nothing from this process's environment: only what each case passes.
  const clean = { KVRING_ADDR: '', KVRING_TOKEN: '', KVRING_TLS_CA_FILE: '', KVRING_TLS_SERVER_NAME: '' };
  const addr = (): string => hosts.map((h) => `${h}:50051`).join(',');

  it('sets, gets, deletes and shows the cluster with --tls-ca and --token', async () => {
    const flags = ['--addr', addr(), '--tls-ca', certs.caCert, '--token', TOKEN];
    const set = await runCli([...flags, 'set', 'cli:tls', 'over TLS'], { env: clean });
    expect({ code: set.code, stderr: set.stderr }).toEqual({ code: 0, stderr: '' });
    const got = await runCli([...flags, 'get', 'cli:tls'], { env: clean });
    expect({ code: got.code, stdout: got.stdout.trim() }).toEqual({ code: 0, stdout: 'over TLS' });
    const status = await runCli([...flags, 'cluster', 'status', '--strict'], { env: clean });
    expect(status.code).toBe(0);
    const del = await runCli([...flags, 'del', 'cli:tls'], { env: clean });
    expect(del.code).toBe(0);
    const gone = await runCli([...flags, 'get', 'cli:tls'], { env: clean });
    expect(gone.code).toBe(1);
  });

  it("takes the node's own settings from the environment (KVRING_TLS_CA_FILE, KVRING_TOKEN)", async () => {
    const r = await runCli(['get', 'cli:absent'], {
      env: { ...clean, KVRING_ADDR: addr(), KVRING_TLS_CA_FILE: certs.caCert, KVRING_TOKEN: TOKEN },
    });
    expect({ code: r.code, stderr: r.stderr.trim() }).toEqual({ code: 1, stderr: 'not found: cli:absent' });
  });

  it('fails a certificate that does not carry the expected server name, and a plaintext attempt', async () => {
    const wrongName = await runCli(
      [
        '--addr',
        addr(),
        '--tls-ca',
        certs.caCert,
        '--token',
        TOKEN,
        '--tls-server-name',
        'not-kvring.example',
        'get',
        'k',
      ],
      { env: clean },
    );
    expect(wrongName.code).toBe(1);
    expect(wrongName.stderr).toMatch(/UNAVAILABLE/);
    const plain = await runCli(['--addr', addr(), '--token', TOKEN, 'get', 'k'], { env: clean });
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/UNAVAILABLE/);
  });

  it('names the flag when a TLS file cannot be read (exit 2)', async () => {
    const r = await runCli(['--addr', addr(), '--tls-ca', '/nonexistent/ca.crt', 'get', 'k'], { env: clean });
    expect({ code: r.code, stderr: r.stderr.trim() }).toEqual({
      code: 2,
      stderr: 'kvring: --tls-ca /nonexistent/ca.crt: ENOENT',
    });
  });
});

describe('peer port (mutual TLS)', () => {
  const noVerify = { checkServerIdentity: () => undefined };

  it('answers a member presenting a certificate signed by the cluster CA', async () => {
    const creds = credentials.createSsl(
      certs.read(certs.caCert),
      certs.read(certs.key),
      certs.read(certs.cert),
      noVerify,
    );
    const d = await digest(creds);
    expect(d.member).toBe('kv-0');
  });

  it('rejects a peer without a client certificate', async () => {
    await expect(
      digest(credentials.createSsl(certs.read(certs.caCert), null, null, noVerify)),
    ).rejects.toMatchObject({
      code: status.UNAVAILABLE,
    });
  });

  it('rejects a peer whose certificate another CA signed', async () => {
    const creds = credentials.createSsl(
      certs.read(certs.caCert),
      rogue.read(rogue.key),
      rogue.read(rogue.cert),
      noVerify,
    );
    await expect(digest(creds)).rejects.toMatchObject({ code: status.UNAVAILABLE });
  });

  it('refuses plaintext peers', async () => {
    await expect(digest(credentials.createInsecure())).rejects.toMatchObject({ code: status.UNAVAILABLE });
  });
});

describe('administrative calls (Drain)', () => {
  function drainOn(address: string, creds: ReturnType<typeof credentials.createSsl>, token?: string) {
    const c = new AdminServiceClient(address, creds);
    const md = new Metadata();
    if (token) md.set('authorization', `Bearer ${token}`);
    return new Promise<DrainResponse>((resolve, reject) =>
      c.drain({ leaving: ['kv-2'] }, md, { deadline: Date.now() + 10_000 }, (err, res) => {
        c.close();
        if (err) reject(err);
        else resolve(res);
      }),
    );
  }

  it('refuses Drain on the client port, even with the client token', async () => {
    const err = await drainOn(cluster.clientAddresses[2]!, tls(), TOKEN).then(
      (res) => ({ drained: res }),
      (e: ServiceError) => e,
    );
    expect(err).toMatchObject({ code: status.UNIMPLEMENTED });
    expect((err as ServiceError).details).toMatch(/peer port/);
  });

  it('serves Drain on the peer port to a certificate the cluster CA signed, and to no other', async () => {
    const peer = `${hosts[2]}:50052`;
    const noVerify = { checkServerIdentity: () => undefined };
    const rogueCreds = credentials.createSsl(
      certs.read(certs.caCert),
      rogue.read(rogue.key),
      rogue.read(rogue.cert),
      noVerify,
    );
    await expect(drainOn(peer, rogueCreds)).rejects.toMatchObject({ code: status.UNAVAILABLE });
    const admin = new AdminClient({
      credentials: credentials.createSsl(
        certs.read(certs.caCert),
        certs.read(certs.key),
        certs.read(certs.cert),
        noVerify,
      ),
    });
    try {
      const r = await admin.drain(peer, ['kv-2']);
      expect(r.keysFailed).toBe(0);
    } finally {
      admin.close();
    }
  });
});
