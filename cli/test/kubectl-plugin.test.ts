// `kubectl kvring` against real nodes with TLS and a token, through a
// stand-in kubectl: it answers `get` from fixtures (a KVCluster, its pods,
// its Secrets) and its `port-forward` names a real node's address, as
// kubectl prints a forwarded one. The plugin's own work (finding the
// cluster and a ready pod, reading TLS and the token from the Secrets,
// checking the certificate against the Service name, talking gRPC) is real.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchEmbeddedPostgres, type EmbeddedPostgresHandle } from '@kvring/devcluster/embedded-postgres';
import { randomSubnet, startLocalCluster, type LocalCluster } from '@kvring/devcluster/local-cluster';
import { makeCerts, type CertFiles } from '@kvring/test-support/certs';
import { runPlugin } from '../src/kubectl/plugin.js';

const TOKEN = 'plugin-token-' + Math.random().toString(36).slice(2);
const subnet = randomSubnet();
const hosts = [1, 2, 3].map((i) => `${subnet}.${i}`);
let work = '';
let certs: CertFiles;
let pg: EmbeddedPostgresHandle | undefined;
let cluster: LocalCluster | undefined;

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');

function fixtures(): Record<string, unknown> {
  const kvc = {
    metadata: { name: 'demo', namespace: 'shop' },
    spec: { replicas: 3, tls: { secretName: 'demo-tls' }, auth: { tokenSecret: { name: 'demo-auth' } } },
    status: {
      readyReplicas: 3,
      quorum: 'R=2 W=2 of N=3',
      conditions: [
        { type: 'Ready', status: 'True', reason: 'AllReplicasReady', message: '3 of 3 pods are ready' },
      ],
    },
  };
  const pod = (name: string, ready: boolean): unknown => ({
    metadata: { name },
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  });
  return {
    'get kvclusters': { items: [kvc] },
    'get kvcluster demo': kvc,
    // kv-0 is not ready: the plugin must pick a ready pod.
    'get pods': { items: [pod('kv-0', false), pod('kv-1', true), pod('kv-2', true)] },
    'get secret demo-tls': {
      data: {
        'ca.crt': b64(readFileSync(certs.caCert)),
        'tls.crt': b64(readFileSync(certs.cert)),
        'tls.key': b64(readFileSync(certs.key)),
      },
    },
    'get secret demo-auth': { data: { token: b64(TOKEN) } },
  };
}

/** A kubectl stand-in: a Node script reading the fixtures file. */
function writeKubectl(): string {
  writeFileSync(join(work, 'fixtures.json'), JSON.stringify(fixtures()));
  const script = join(work, 'kubectl');
  writeFileSync(
    script,
    `#!${process.execPath}
const fs = require('node:fs');
const args = process.argv.slice(2).filter((a, i, all) => a !== '-n' && all[i - 1] !== '-n');
fs.appendFileSync(${JSON.stringify(join(work, 'calls.log'))}, args.join(' ') + '\\n');
if (args[0] === 'port-forward') {
  const pod = args[1].replace('pod/', '');
  const host = ${JSON.stringify(Object.fromEntries(hosts.map((h, i) => [`kv-${i}`, h])))}[pod];
  const port = args[2].replace(':', '');
  process.stdout.write('Forwarding from ' + host + ':' + port + ' -> ' + port + '\\n');
  setInterval(() => {}, 1000);
} else {
  const fx = JSON.parse(fs.readFileSync(${JSON.stringify(join(work, 'fixtures.json'))}, 'utf8'));
  const key = args.slice(0, 3).filter((a) => !a.startsWith('-')).join(' ');
  if (!(key in fx)) { process.stderr.write('Error from server (NotFound): ' + key + '\\n'); process.exit(1); }
  process.stdout.write(JSON.stringify(fx[key]));
}
`,
  );
  chmodSync(script, 0o755);
  return script;
}

async function plugin(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runPlugin(['-n', 'shop', ...args], {
    out: (s) => (out += s),
    err: (s) => (err += s),
    readStdin: () => Promise.resolve(Buffer.alloc(0)),
  });
  return { code, out, err };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'kvring-plugin-'));
  certs = makeCerts({
    ips: hosts,
    names: ['demo.shop.svc', ...[0, 1, 2].map((i) => `kv-${i}.demo-peers.shop.svc`)],
  });
  pg = await launchEmbeddedPostgres({});
  cluster = await startLocalCluster({
    subnet,
    postgresUrl: pg.url,
    env: {
      KVRING_TLS_CERT_FILE: certs.cert,
      KVRING_TLS_KEY_FILE: certs.key,
      KVRING_TLS_CA_FILE: certs.caCert,
      KVRING_AUTH_TOKEN: TOKEN,
    },
  });
  process.env['KUBECTL'] = writeKubectl();
}, 120_000);

afterAll(async () => {
  delete process.env['KUBECTL'];
  await cluster?.stop();
  await pg?.destroy();
  if (work) rmSync(work, { recursive: true, force: true });
}, 60_000);

describe('kubectl kvring', () => {
  it('sets and gets through a ready pod, with TLS and the token from the Secrets', async () => {
    expect(await plugin(['set', 'plugin:k', 'through the plugin'])).toMatchObject({ code: 0, err: '' });
    const got = await plugin(['get', 'plugin:k']);
    expect({ code: got.code, out: got.out.trim() }).toEqual({ code: 0, out: 'through the plugin' });
    const calls = readFileSync(join(work, 'calls.log'), 'utf8');
    expect(calls).toContain('port-forward pod/kv-1 :50051');
    expect(calls).not.toContain('pod/kv-0');
  });

  it('shows conditions, replicas and the ring as a pod sees it', async () => {
    const r = await plugin(['status']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('KVCluster shop/demo: 3/3 ready, quorum R=2 W=2 of N=3');
    expect(r.out).toMatch(/Ready\s+True\s+AllReplicasReady\s+3 of 3 pods are ready/);
    for (const m of ['kv-0', 'kv-1', 'kv-2'])
      expect(r.out).toMatch(new RegExp(`${m}\\s+(self|up)\\s+\\d+\\.\\d%`));
    const ring = await plugin(['ring']);
    const shares = [...ring.out.matchAll(/(\d+\.\d)%/g)].map((m) => Number(m[1]));
    expect(shares).toHaveLength(3);
    expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(100, 0);
  });

  // Last: a drained node stays leaving until it restarts.
  it('drains the named pod on its peer port (mutual TLS with the Secret pair), and only that pod', async () => {
    await plugin(['set', 'plugin:drained', 'moved']);
    const r = await plugin(['drain', 'kv-2']);
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
    expect(r.out).toMatch(/^kv-2: \d+ keys handed over, 0 failed\n$/);
    const calls = readFileSync(join(work, 'calls.log'), 'utf8');
    expect(calls).toContain('port-forward pod/kv-2 :50052');
    const got = await plugin(['get', 'plugin:drained']);
    expect({ code: got.code, out: got.out.trim() }).toEqual({ code: 0, out: 'moved' });
  });

  it('says which cluster or pod it could not find', async () => {
    const r = await plugin(['--cluster', 'nope', 'get', 'k']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^kubectl kvring: kubectl .*get kvcluster nope .*NotFound/);
  });
});
