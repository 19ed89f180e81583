// What the kubectl plugin needs from Kubernetes, through the user's own
// kubectl (their kubeconfig, context and credentials, as every kubectl
// plugin does): objects as JSON, Secret data, and port-forwards to pods.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface KubectlOptions {
  /** The kubectl program (KUBECTL, else `kubectl` on PATH). */
  readonly kubectl: string;
  /** -n; undefined = the context's namespace. */
  readonly namespace: string | undefined;
  /** --context, when given. */
  readonly context: string | undefined;
}

/** kubectl failed or answered something the plugin cannot use; the message says which. */
export class KubectlError extends Error {
  override readonly name = 'KubectlError';
}

function baseArgs(o: KubectlOptions): string[] {
  const args: string[] = [];
  if (o.context !== undefined) args.push('--context', o.context);
  if (o.namespace !== undefined) args.push('-n', o.namespace);
  return args;
}

/** `kubectl get <what> -o json`, parsed. */
export function getJson<T>(o: KubectlOptions, what: readonly string[]): Promise<T> {
  const args = [...baseArgs(o), 'get', ...what, '-o', 'json'];
  return new Promise((resolve, reject) => {
    execFile(o.kubectl, args, { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(new KubectlError(`kubectl ${args.join(' ')}: ${stderr.trim() || err.message}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as T);
      } catch {
        reject(new KubectlError(`kubectl ${args.join(' ')} did not print JSON`));
      }
    });
  });
}

/** The decoded value of `key` in Secret `name`. */
export async function secretValue(o: KubectlOptions, name: string, key: string): Promise<Buffer> {
  const s = await getJson<{ data?: Record<string, string> }>(o, ['secret', name]);
  const b64 = s.data?.[key];
  if (b64 === undefined) throw new KubectlError(`Secret ${name} has no key ${key}`);
  return Buffer.from(b64, 'base64');
}

/** A running `kubectl port-forward`: the local address to dial, and how to stop it. */
export interface PortForward {
  readonly address: string;
  close(): void;
}

// kubectl prints "Forwarding from 127.0.0.1:40123 -> 50051" once listening.
const FORWARDING = /^Forwarding from (\S+):(\d+) -> \d+/;

/** Forwards a free local port to `port` of pod `pod`; resolves once kubectl listens. */
export function portForward(o: KubectlOptions, pod: string, port: number): Promise<PortForward> {
  const args = [...baseArgs(o), 'port-forward', `pod/${pod}`, `:${port}`, '--address', '127.0.0.1'];
  const child: ChildProcess = spawn(o.kubectl, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-2000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new KubectlError(`kubectl port-forward pod/${pod} did not start within 20 s: ${stderr.trim()}`));
    }, 20_000);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const m = FORWARDING.exec(line);
      if (m === null) return;
      clearTimeout(timer);
      const host = m[1] === '[::1]' ? '[::1]' : m[1]!;
      resolve({ address: `${host}:${m[2]}`, close: () => child.kill('SIGTERM') });
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new KubectlError(`kubectl port-forward pod/${pod} exited (${code}): ${stderr.trim()}`));
    });
  });
}
