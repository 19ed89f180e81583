// Two `kvring-operator` processes (the built bin, as a Deployment of two
// replicas would run it) against one API server: only the Lease holder
// reconciles; killing it hands the work over to the other within the
// lease duration; SIGTERM releases the Lease and exits cleanly.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ControlPlane, eventually, freePort, REPO_ROOT, terminate } from '@kvring/control-plane';

const NS = 'le-test';
const LEASE_MS = 4_000;
const MAIN = join(REPO_ROOT, 'operator', 'dist', 'main.js');

let cp: ControlPlane;

interface Proc {
  id: string;
  port: number;
  child: ChildProcess;
  output: string[];
}
const procs: Proc[] = [];

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** The test runs the built operator: fail clearly when it is missing or older than its sources. */
function assertBuilt(): void {
  try {
    statSync(MAIN);
  } catch {
    throw new Error(`${MAIN} is missing: run \`make build\` (or npm run build) before this test`);
  }
  // tsc -b rewrites only the outputs whose sources changed: compare the
  // newest output (its build record included) with the newest source.
  const built = newestMtime(join(REPO_ROOT, 'operator', 'dist'));
  if (newestMtime(join(REPO_ROOT, 'operator', 'src')) > built)
    throw new Error(
      `${MAIN} is older than operator/src: run \`make build\` (or npm run build) before this test`,
    );
}

async function startOperator(id: string): Promise<Proc> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      MAIN,
      `--kubeconfig=${cp.kubeconfigPath}`,
      `--metrics-bind-address=127.0.0.1:${port}`,
      `--leader-election-namespace=${NS}`,
      `--lease-duration=${LEASE_MS}ms`,
      '--renew-deadline=3s',
      '--retry-period=500ms',
      `--identity=${id}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const p: Proc = { id, port, child, output: [] };
  child.stdout.on('data', (d: Buffer) => p.output.push(d.toString()));
  child.stderr.on('data', (d: Buffer) => p.output.push(d.toString()));
  procs.push(p);
  await eventually(async () => ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok ? true : undefined), {
    what: `${id} to serve /healthz`,
  });
  return p;
}

async function metric(p: Proc, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${p.port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{'))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

interface Lease {
  spec: { holderIdentity?: string; leaseTransitions?: number; renewTime?: string; acquireTime?: string };
}

async function lease(): Promise<Lease | undefined> {
  const r = await cp.kubectl(['-n', NS, 'get', 'lease', 'kvring-operator', '-o', 'json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as Lease) : undefined;
}

function cluster(name: string): string {
  return JSON.stringify({
    apiVersion: 'kvring.dev/v1alpha1',
    kind: 'KVCluster',
    metadata: { name, namespace: NS },
    spec: { postgres: { host: 'pg', credentialsSecret: { name: 'pg' } } },
  });
}

async function statefulSetExists(name: string): Promise<true | undefined> {
  return (await cp.kubectl(['-n', NS, 'get', 'statefulset', name])).code === 0 ? true : undefined;
}

beforeAll(async () => {
  assertBuilt();
  cp = await ControlPlane.start();
  await cp.kubectlOk(['create', 'namespace', NS]);
  await cp.kubectlOk([
    '-n',
    NS,
    'create',
    'secret',
    'generic',
    'pg',
    '--from-literal=username=u',
    '--from-literal=password=p',
  ]);
}, 180_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => terminate(p.child, 5_000)));
  await cp?.stop();
});

describe('leader election between two operator processes', () => {
  it('only the Lease holder reconciles; killing it hands over within the lease duration', async () => {
    const a = await startOperator('op-a');
    const b = await startOperator('op-b');
    const holder = await eventually(
      async () => {
        const h = (await lease())?.spec.holderIdentity;
        return h === 'op-a' || h === 'op-b' ? h : undefined;
      },
      { what: 'a leader' },
    );
    const [leader, standby] = holder === 'op-a' ? [a, b] : [b, a];
    await eventually(
      async () => ((await metric(leader, 'kvring_operator_leader')) === 1 ? true : undefined),
      {
        what: 'the leader to report leading',
      },
    );
    expect(await metric(standby, 'kvring_operator_leader')).toBe(0);
    // Both are ready: the standby is healthy, waiting.
    expect((await fetch(`http://127.0.0.1:${standby.port}/readyz`)).status).toBe(200);

    await cp.kubectlOk(['apply', '-f', '-'], { input: cluster('first') });
    await eventually(() => statefulSetExists('first'), { what: 'the leader to create StatefulSet first' });
    // The StatefulSet appears mid-reconcile; the count moves when the reconcile ends.
    await eventually(
      async () => ((await metric(leader, 'kvring_operator_reconcile_total')) > 0 ? true : undefined),
      {
        what: 'the leader to count its reconciles',
      },
    );
    expect(await metric(standby, 'kvring_operator_reconcile_total')).toBe(0);

    // Crash the leader: no release, the standby must wait the lease out.
    const lastRenew = Date.parse((await lease())!.spec.renewTime!);
    leader.child.kill('SIGKILL');
    const killedAt = Date.now();
    await eventually(async () => ((await lease())?.spec.holderIdentity === standby.id ? true : undefined), {
      what: `${standby.id} to take the lease`,
      timeoutMs: 3 * LEASE_MS,
      intervalMs: 100,
    });
    const tookOverAfterMs = Date.now() - killedAt;
    const l = (await lease())!;
    const acquiredAfterRenewMs = Date.parse(l.spec.acquireTime!) - lastRenew;
    console.log(
      `leader handover: lease ${LEASE_MS} ms; new leader acquired ${acquiredAfterRenewMs} ms after the last ` +
        `renewal, ${tookOverAfterMs} ms after the kill`,
    );
    expect(l.spec.leaseTransitions).toBeGreaterThanOrEqual(1);
    // Never before the lease expired: that would risk two leaders.
    expect(acquiredAfterRenewMs).toBeGreaterThanOrEqual(LEASE_MS - 1_000);

    await cp.kubectlOk(['apply', '-f', '-'], { input: cluster('second') });
    await eventually(() => statefulSetExists('second'), {
      what: 'the new leader to create StatefulSet second',
    });
    await eventually(
      async () => ((await metric(standby, 'kvring_operator_reconcile_total')) > 0 ? true : undefined),
      {
        what: 'the new leader to count its reconciles',
      },
    );
  });

  it('SIGTERM finishes, releases the Lease and exits 0', async () => {
    const current = procs.find((p) => p.child.exitCode === null && p.child.signalCode === null)!;
    expect((await lease())!.spec.holderIdentity).toBe(current.id);
    const exited = new Promise<number | null>((resolve) =>
      current.child.once('exit', (code) => resolve(code)),
    );
    current.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect((await lease())!.spec.holderIdentity ?? '').toBe('');
    expect(current.output.join('')).toContain('released the lease');
  });
});
