// kubectl for the end-to-end suites: what a user types, with the suite's
// kubeconfig, a bounded run time, and failures that carry kubectl's own words.
import { run, type RunResult } from '@kvring/control-plane';
import type { E2eEnv } from './env.js';

export type KubectlResult = RunResult;

export interface KubectlOptions {
  /** Written to kubectl's stdin (e.g. a manifest for `apply -f -`). */
  input?: string;
  /** Killed after this long (default 60 s). */
  timeoutMs?: number;
}

export class Kubectl {
  constructor(
    private readonly env: Pick<E2eEnv, 'kubeconfig' | 'kubectl'>,
    /** The namespace added to every command unless it names one itself. */
    readonly namespace?: string,
  ) {}

  /** The same kubeconfig, commands in another namespace. */
  in(namespace: string): Kubectl {
    return new Kubectl(this.env, namespace);
  }

  run(args: readonly string[], o: KubectlOptions = {}): Promise<KubectlResult> {
    const ns =
      this.namespace && !args.some((a) => a === '-n' || a.startsWith('--namespace') || a === '-A')
        ? ['--namespace', this.namespace]
        : [];
    return run(this.env.kubectl, [`--kubeconfig=${this.env.kubeconfig}`, ...ns, ...args], {
      input: o.input,
      timeoutMs: o.timeoutMs ?? 60_000,
    });
  }

  /** Runs kubectl and returns stdout; throws with kubectl's message if it fails. */
  async ok(args: readonly string[], o: KubectlOptions = {}): Promise<string> {
    const r = await this.run(args, o);
    if (r.code !== 0)
      throw new Error(`kubectl ${args.join(' ')} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  }

  /** `kubectl get ... -o json`, parsed. */
  async json<T>(args: readonly string[]): Promise<T> {
    return JSON.parse(await this.ok([...args, '-o', 'json'])) as T;
  }

  /** `kubectl apply -f -` of a manifest. */
  apply(manifest: string): Promise<string> {
    return this.ok(['apply', '-f', '-'], { input: manifest });
  }

  /** `kubectl exec POD -- COMMAND...` (container: the first one). */
  exec(pod: string, command: readonly string[], o: KubectlOptions = {}): Promise<KubectlResult> {
    // With input, stdin is passed through to the container's process.
    return this.run(['exec', ...(o.input !== undefined ? ['-i'] : []), pod, '--', ...command], o);
  }
}

/** The parts of a Pod the suites read. */
export interface PodView {
  metadata: { name: string; uid: string; namespace: string };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string; lastTransitionTime?: string }[];
    containerStatuses?: { ready: boolean; restartCount: number; state?: Record<string, unknown> }[];
  };
}

export function podReady(p: PodView): boolean {
  return p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}
