// `kubectl kvring`: a KVCluster as its users see it from their desk, through
// their own kubectl: status (conditions, replicas, ring members and
// ownership), ring, and get/set through a port-forward to a ready pod,
// with TLS and the token taken from the cluster's own Secrets.
import { credentials } from '@grpc/grpc-js';
import { Command, CommanderError } from 'commander';
import {
  AdminClient,
  KvClient,
  MemberState,
  type AdminClientOptions,
  type ClientOptions,
  type ClusterInfoResponse,
} from '@kvring/client';
import { renderTable } from '@kvring/format/table';
import { getCommand, setCommand } from '../kv-commands.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, describeError, processIo, type Io } from '../output.js';
import { KubectlError, getJson, portForward, secretValue, type KubectlOptions } from './kube.js';

const CLIENT_PORT = 50051;
const PEER_PORT = 50052;

/** The parts of a KVCluster the plugin reads. */
interface KVClusterView {
  metadata: { name: string; namespace: string };
  spec: {
    replicas?: number;
    tls?: { secretName: string };
    auth?: { tokenSecret?: { name: string; key?: string } };
  };
  status?: {
    replicas?: number;
    readyReplicas?: number;
    ringMembers?: string[];
    ringHash?: string;
    quorum?: string;
    conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
  };
}

interface PodView {
  metadata: { name: string };
  status?: { conditions?: Array<{ type: string; status: string }> };
}

interface Globals {
  namespace?: string;
  context?: string;
  cluster?: string;
}

function kubectlOptions(g: Globals): KubectlOptions {
  return { kubectl: process.env['KUBECTL'] || 'kubectl', namespace: g.namespace, context: g.context };
}

/** The named KVCluster, or the only one in the namespace. */
async function findCluster(k: KubectlOptions, name: string | undefined): Promise<KVClusterView> {
  if (name !== undefined) return getJson<KVClusterView>(k, ['kvcluster', name]);
  const list = await getJson<{ items: KVClusterView[] }>(k, ['kvclusters']);
  if (list.items.length === 1) return list.items[0]!;
  const names = list.items.map((c) => c.metadata.name);
  throw new KubectlError(
    names.length === 0
      ? 'no KVCluster in this namespace (use -n NAMESPACE)'
      : `${names.length} KVClusters here (${names.join(', ')}): name one with --cluster`,
  );
}

async function readyPod(k: KubectlOptions, kvc: KVClusterView): Promise<string> {
  const pods = await getJson<{ items: PodView[] }>(k, [
    'pods',
    '-l',
    `app.kubernetes.io/name=kvring,app.kubernetes.io/instance=${kvc.metadata.name}`,
  ]);
  const ready = pods.items.find((p) =>
    p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  );
  if (ready === undefined) throw new KubectlError(`no Ready pod of KVCluster ${kvc.metadata.name}`);
  return ready.metadata.name;
}

/** TLS and the token as the cluster's Secrets define them, for a client on a port-forward. */
async function clientOptionsFor(k: KubectlOptions, kvc: KVClusterView): Promise<ClientOptions> {
  const opts: { timeoutMs: number; token?: string } = { timeoutMs: 10_000 };
  const tokenRef = kvc.spec.auth?.tokenSecret;
  if (tokenRef !== undefined)
    opts.token = (await secretValue(k, tokenRef.name, tokenRef.key ?? 'token')).toString('utf8').trim();
  const tls = kvc.spec.tls;
  if (tls === undefined) return opts;
  const ca = await secretValue(k, tls.secretName, 'ca.crt');
  // The certificate names the client Service (<name>.<namespace>.svc); the
  // port-forward is dialled at 127.0.0.1, so the name is checked explicitly.
  const serverName = `${kvc.metadata.name}.${kvc.metadata.namespace}.svc`;
  return {
    ...opts,
    credentials: credentials.createSsl(ca),
    channelOptions: { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName },
  };
}

/**
 * Peer-port credentials for a drain: with TLS on, the peer port takes only
 * certificates the cluster CA signed, so the plugin presents the pair in the
 * cluster's TLS Secret (whoever may read that Secret may drain), and checks
 * the pod's own name (<pod>.<name>-peers.<namespace>.svc).
 */
async function adminOptionsFor(
  k: KubectlOptions,
  kvc: KVClusterView,
  pod: string,
): Promise<AdminClientOptions> {
  const tls = kvc.spec.tls;
  if (tls === undefined) return { timeoutMs: 10 * 60_000 };
  const [ca, key, cert] = await Promise.all([
    secretValue(k, tls.secretName, 'ca.crt'),
    secretValue(k, tls.secretName, 'tls.key'),
    secretValue(k, tls.secretName, 'tls.crt'),
  ]);
  const serverName = `${pod}.${kvc.metadata.name}-peers.${kvc.metadata.namespace}.svc`;
  return {
    timeoutMs: 10 * 60_000,
    credentials: credentials.createSsl(ca, key, cert),
    channelOptions: { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName },
  };
}

/** Runs `fn` with a client of one ready pod, through a port-forward that is closed afterwards. */
async function withPodClient<T>(
  g: Globals,
  fn: (c: KvClient, kvc: KVClusterView, pod: string) => Promise<T>,
): Promise<T> {
  const k = kubectlOptions(g);
  const kvc = await findCluster(k, g.cluster);
  const [pod, options] = await Promise.all([readyPod(k, kvc), clientOptionsFor(k, kvc)]);
  const forward = await portForward(k, pod, CLIENT_PORT);
  const client = new KvClient(forward.address, options);
  try {
    return await fn(client, kvc, pod);
  } finally {
    client.close();
    forward.close();
  }
}

const STATES: Record<number, string> = {
  [MemberState.MEMBER_STATE_SELF]: 'self',
  [MemberState.MEMBER_STATE_UP]: 'up',
  [MemberState.MEMBER_STATE_DOWN]: 'down',
};

export function formatRing(info: ClusterInfoResponse): string {
  const rows = [...info.members]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((m) => [m.name, STATES[m.state] ?? 'unknown', `${(m.ownership * 100).toFixed(1)}%`, m.incarnation]);
  return renderTable(['MEMBER', 'STATE', 'OWNERSHIP', 'INCARNATION'], rows);
}

export function formatCluster(
  kvc: KVClusterView,
  info: ClusterInfoResponse | undefined,
  pod: string,
): string {
  const s = kvc.status ?? {};
  const lines = [
    `KVCluster ${kvc.metadata.namespace}/${kvc.metadata.name}: ${s.readyReplicas ?? 0}/${kvc.spec.replicas ?? '?'} ready` +
      (s.quorum ? `, quorum ${s.quorum}` : '') +
      (s.ringHash ? `, ring ${s.ringHash}` : ''),
    '',
    renderTable(
      ['CONDITION', 'STATUS', 'REASON', 'MESSAGE'],
      (s.conditions ?? []).map((c) => [c.type, c.status, c.reason, c.message]),
    ),
  ];
  if (info !== undefined) {
    lines.push(
      '',
      `Ring as ${pod} sees it (${info.replicationFactor} replicas per key, R=${info.readQuorum} W=${info.writeQuorum}):`,
    );
    lines.push(formatRing(info));
  }
  return lines.join('\n') + '\n';
}

/** Runs the plugin with `argv`; resolves with the exit code. */
export async function runPlugin(argv: readonly string[], io: Io = processIo): Promise<number> {
  let exitCode = EXIT_OK;
  const program = new Command('kubectl-kvring')
    .description('kvring on Kubernetes, through your kubectl: status, ring, get and set')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .option('-n, --namespace <namespace>', "the KVCluster's namespace (default: the context's)")
    .option('--context <context>', 'the kubeconfig context to use')
    .option('--cluster <name>', 'the KVCluster (default: the only one in the namespace)');

  program
    .command('status')
    .description('conditions, replicas, and the ring (members, state, ownership) as a ready pod sees it')
    .action(async (_o: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<Globals>();
      const out = await withPodClient(g, async (c, kvc, pod) =>
        formatCluster(kvc, await c.clusterInfo(), pod),
      );
      io.out(out);
    });

  program
    .command('ring')
    .description('ring ownership per member, as a ready pod sees it')
    .action(async (_o: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<Globals>();
      io.out(`${await withPodClient(g, async (c) => formatRing(await c.clusterInfo()))}\n`);
    });

  program
    .command('get')
    .description('print the value of KEY, through a port-forward to a ready pod')
    .argument('<key>')
    .action(async (key: string, _o: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<Globals>();
      exitCode = await withPodClient(g, (client) => getCommand({ client, io, json: false }, key));
    });

  program
    .command('set')
    .description('write VALUE under KEY ("-" reads standard input), through a port-forward to a ready pod')
    .argument('<key>')
    .argument('<value>')
    .action(async (key: string, value: string, _o: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<Globals>();
      const bytes = value === '-' ? await io.readStdin() : Buffer.from(value, 'utf8');
      exitCode = await withPodClient(g, (client) =>
        setCommand({ client, io, json: false }, key, bytes, undefined),
      );
    });

  program
    .command('drain')
    .description(
      "hand POD's keys to the members that remain without it (what the operator does before a scale-down); " +
        'sent to POD only, never to another pod',
    )
    .argument('<pod>')
    .action(async (pod: string, _o: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<Globals>();
      const k = kubectlOptions(g);
      const kvc = await findCluster(k, g.cluster);
      const options = await adminOptionsFor(k, kvc, pod);
      const forward = await portForward(k, pod, PEER_PORT);
      const admin = new AdminClient(options);
      try {
        const r = await admin.drain(forward.address, [pod]);
        io.out(`${pod}: ${r.keysStreamed} keys handed over, ${r.keysFailed} failed\n`);
        exitCode = r.keysFailed === 0 ? EXIT_OK : EXIT_FAILED;
      } finally {
        admin.close();
        forward.close();
      }
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    io.err(`kubectl kvring: ${err instanceof KubectlError ? err.message : describeError(err)}\n`);
    return EXIT_FAILED;
  }
}
