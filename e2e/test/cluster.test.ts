// The cluster the end-to-end scenarios stand on does what they rely on:
// pods from a local image run and their logs are readable; a Service's
// ClusterIP and name reach its pods from another pod; a headless Service
// publishes SRV and A records for pods that are not ready when asked to
// (what the cache nodes discover each other by); a pod deleted with zero
// grace comes back through its StatefulSet. Runs against whatever cluster
// KVRING_E2E_KUBECONFIG names (scripts/e2e.sh sets the local one).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { eventually } from '@kvring/control-plane';
import { parseA, parseSrv } from './support/dns.js';
import { e2eEnv } from './support/env.js';
import { Kubectl, podReady, type PodView } from './support/kubectl.js';

const env = e2eEnv();
const ns = `e2e-cluster-${randomBytes(3).toString('hex')}`;
const k = new Kubectl(env).in(ns);
const domain = env.clusterDomain;

function manifests(): string {
  const img = env.busyboxImage;
  return `
apiVersion: v1
kind: Pod
metadata: { name: client, labels: { app: client } }
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: main
      image: ${img}
      imagePullPolicy: IfNotPresent
      command: ['sh', '-c', 'echo "hello from $(hostname)"; exec sleep 3600']
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: httpd
          image: ${img}
          imagePullPolicy: IfNotPresent
          command: ['sh', '-c', 'mkdir -p /tmp/www && echo "web says $(hostname)" > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www']
          ports: [{ name: http, containerPort: 8080 }]
          readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 }
---
apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: http }]
---
# The peers' Service: headless, publishing pods before they are ready.
apiVersion: v1
kind: Service
metadata: { name: peers }
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: { app: peer }
  ports: [{ name: peer, port: 7000 }]
---
# The same pods behind a headless Service that waits for readiness: the
# contrast shows which setting makes the records above appear.
apiVersion: v1
kind: Service
metadata: { name: peers-ready }
spec:
  clusterIP: None
  selector: { app: peer }
  ports: [{ name: peer, port: 7000 }]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: peer }
spec:
  serviceName: peers
  replicas: 2
  # Parallel: the pods never become ready, and OrderedReady would wait for peer-0.
  podManagementPolicy: Parallel
  selector: { matchLabels: { app: peer } }
  template:
    metadata: { labels: { app: peer } }
    spec:
      terminationGracePeriodSeconds: 30
      containers:
        - name: main
          image: ${img}
          imagePullPolicy: IfNotPresent
          command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done']
          ports: [{ name: peer, containerPort: 7000 }]
          # Never ready: only publishNotReadyAddresses can put them in DNS.
          readinessProbe: { exec: { command: ['false'] }, periodSeconds: 2 }
`;
}

async function pod(name: string): Promise<PodView> {
  return k.json<PodView>(['get', 'pod', name]);
}

async function runningPod(name: string, what: string, timeoutMs = 120_000): Promise<PodView> {
  return eventually(
    async () => {
      const p = await pod(name);
      return p.status.phase === 'Running' ? p : undefined;
    },
    { timeoutMs, intervalMs: 500, what },
  );
}

/** An HTTP GET from inside the client pod (busybox wget; its own -T option crashes, so `timeout` bounds it). */
async function fetchFromClient(url: string): Promise<string> {
  const r = await k.exec('client', ['timeout', '10', 'wget', '-q', '-O', '-', url], { timeoutMs: 20_000 });
  if (r.code !== 0)
    throw new Error(`wget ${url} in the client pod failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** busybox nslookup inside the client pod; resolves through the cluster's DNS. */
async function nslookup(name: string, type?: 'srv'): Promise<string> {
  const r = await k.exec('client', ['nslookup', ...(type ? [`-type=${type}`] : []), name], {
    timeoutMs: 20_000,
  });
  return r.stdout + r.stderr;
}

beforeAll(async () => {
  await k.ok(['create', 'namespace', ns], { timeoutMs: 30_000 });
  // A new namespace gets its default ServiceAccount a moment later; pods wait for it.
  await eventually(
    async () => ((await k.run(['get', 'serviceaccount', 'default'])).code === 0 ? true : undefined),
    {
      timeoutMs: 30_000,
      what: 'the default ServiceAccount',
    },
  );
  await k.apply(manifests());
}, 90_000);

afterAll(async () => {
  if (process.env.KVRING_E2E_KEEP_NAMESPACES) return;
  await k.run(['delete', 'namespace', ns, '--wait=false'], { timeoutMs: 30_000 });
});

describe('the e2e cluster', () => {
  it('runs a pod from a locally built image and serves its logs', async () => {
    await runningPod('client', 'the client pod to run');
    const logs = await eventually(
      async () => {
        const out = await k.ok(['logs', 'client']);
        return out.includes('hello from') ? out : undefined;
      },
      { timeoutMs: 30_000, what: 'the client pod to log its greeting' },
    );
    expect(logs.trim()).toBe('hello from client');
  }, 150_000);

  it("reaches a Service's pods through its ClusterIP and its DNS name", async () => {
    await runningPod('client', 'the client pod to run');
    await k.ok(['rollout', 'status', 'deployment/web', '--timeout=120s'], { timeoutMs: 130_000 });
    const svc = await k.json<{ spec: { clusterIP: string } }>(['get', 'service', 'web']);
    const pods = await k.json<{ items: PodView[] }>(['get', 'pods', '-l', 'app=web']);
    const webPod = pods.items[0]!.metadata.name;
    expect(svc.spec.clusterIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    expect(await fetchFromClient(`http://${svc.spec.clusterIP}/`)).toBe(`web says ${webPod}`);

    const fqdn = `web.${ns}.svc.${domain}`;
    expect(parseA(await nslookup(fqdn))).toEqual([svc.spec.clusterIP]);
    expect(await fetchFromClient(`http://${fqdn}/`)).toBe(`web says ${webPod}`);
    // The short name, through the pod's DNS search path.
    expect(await fetchFromClient('http://web/')).toBe(`web says ${webPod}`);
  }, 200_000);

  it('publishes SRV and A records of not-ready pods behind a headless Service with publishNotReadyAddresses', async () => {
    await runningPod('client', 'the client pod to run');
    const peers = await Promise.all(['peer-0', 'peer-1'].map((n) => runningPod(n, `${n} to run`)));
    for (const p of peers) expect(podReady(p)).toBe(false);

    const srvName = `_peer._tcp.peers.${ns}.svc.${domain}`;
    const srv = await eventually(
      async () => {
        const records = parseSrv(await nslookup(srvName, 'srv'));
        return records.length === 2 ? records : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000, what: `two SRV records for ${srvName}` },
    );
    expect(srv.map((r) => r.target).sort()).toEqual([
      `peer-0.peers.${ns}.svc.${domain}`,
      `peer-1.peers.${ns}.svc.${domain}`,
    ]);
    expect(srv.every((r) => r.port === 7000)).toBe(true);
    for (const p of peers) {
      const a = parseA(await nslookup(`${p.metadata.name}.peers.${ns}.svc.${domain}`));
      expect(a).toEqual([p.status.podIP]);
    }

    // Without publishNotReadyAddresses the same not-ready pods are not published.
    const hidden = await nslookup(`_peer._tcp.peers-ready.${ns}.svc.${domain}`, 'srv');
    expect(parseSrv(hidden)).toEqual([]);
    expect(parseA(await nslookup(`peer-0.peers-ready.${ns}.svc.${domain}`))).toEqual([]);
  }, 200_000);

  it('brings back a StatefulSet pod deleted with zero grace, under the same name and DNS name', async () => {
    const before = await runningPod('peer-0', 'peer-0 to run');
    const t0 = Date.now();
    await k.ok(['delete', 'pod', 'peer-0', '--grace-period=0', '--force'], { timeoutMs: 30_000 });
    const after = await eventually(
      async () => {
        const r = await k.run(['get', 'pod', 'peer-0', '-o', 'json']);
        if (r.code !== 0) return undefined;
        const p = JSON.parse(r.stdout) as PodView;
        return p.metadata.uid !== before.metadata.uid && p.status.phase === 'Running' && p.status.podIP
          ? p
          : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, what: 'the StatefulSet to recreate peer-0' },
    );
    const recreatedMs = Date.now() - t0;
    expect(after.metadata.uid).not.toBe(before.metadata.uid);
    // Its DNS name follows it to the new pod (within the records' 30 s TTL).
    const name = `peer-0.peers.${ns}.svc.${domain}`;
    const a = await eventually(
      async () => {
        const ips = parseA(await nslookup(name));
        return ips.length === 1 && ips[0] === after.status.podIP ? ips : undefined;
      },
      {
        timeoutMs: 90_000,
        intervalMs: 2000,
        what: `${name} to resolve to the new pod's ${after.status.podIP}`,
      },
    );
    expect(a).toEqual([after.status.podIP]);
    console.log(
      `peer-0 deleted with zero grace: running again after ${(recreatedMs / 1000).toFixed(1)} s, ` +
        `its DNS name on the new pod (${before.status.podIP} -> ${after.status.podIP}) after ` +
        `${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
  }, 250_000);
});
