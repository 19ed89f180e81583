// Commands on the Kubernetes node itself, for the failures the API cannot
// make: a process frozen in place (SIGSTOP) holds its Lease without renewing
// or releasing it, which is what a hung or partitioned leader looks like.
//
// On the local cluster the suites already run in the node's namespaces, with
// containerd's address in CONTAINERD_ADDRESS; on kind, KVRING_E2E_NODE_EXEC
// is the prefix that reaches the node (`docker exec kvring-e2e-control-plane`).
import { run } from '@kvring/control-plane';
import type { KubectlResult } from './kubectl.js';

function prefix(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.KVRING_E2E_NODE_EXEC ?? '').split(/\s+/).filter(Boolean);
}

/** Runs a command on the node (bounded), resolving with its exit code and output. */
export function onNode(args: readonly string[], timeoutMs = 30_000): Promise<KubectlResult> {
  const [cmd, ...rest] = [...prefix(), ...args];
  return run(cmd!, rest, { timeoutMs });
}

/**
 * Sends a signal to a container's main process through containerd (`ctr task
 * kill`): the shim sends it from outside the container's PID namespace, so
 * even SIGSTOP reaches a PID 1 that would ignore it from inside.
 */
export async function signalContainer(containerId: string, signal: 'SIGSTOP' | 'SIGCONT'): Promise<void> {
  const id = containerId.replace(/^[a-z]+:\/\//, '');
  const r = await onNode(['ctr', '-n', 'k8s.io', 'task', 'kill', '--signal', signal, id]);
  if (r.code !== 0)
    throw new Error(
      `ctr task kill --signal ${signal} ${id} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}` +
        ' (the suites need containerd on the node: on kind set KVRING_E2E_NODE_EXEC="docker exec <node>")',
    );
}
