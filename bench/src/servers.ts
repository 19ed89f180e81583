// Starting the reference servers `make bench` runs as processes of their
// own: the readiness wait they share, and the no-op grpc-js server.
import { fileURLToPath } from 'node:url';
import { Child } from '@kvring/devcluster/process';

const NOOP_MAIN = fileURLToPath(new URL('./noop-server.js', import.meta.url));

/** Waits (15 s at most) for `pattern` in the child's output; stops it and throws when it never comes. */
export async function awaitOutput(child: Child, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const m = pattern.exec(child.output());
    if (m) return m;
    if (!child.running) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const out = child.output().slice(-2000);
  await child.stop(2000);
  throw new Error(`${what} did not start:\n${out}`);
}

export async function startNoop(
  host: string,
  valueSize: number,
  execArgv: readonly string[] = [],
): Promise<{ child: Child; address: string }> {
  const child = new Child({
    name: 'noop',
    command: process.execPath,
    args: [...execArgv, NOOP_MAIN, '--host', host, '--port', '0', '--value-size', String(valueSize)],
    env: {},
  });
  child.start();
  const m = await awaitOutput(child, /listening (\S+)/, 'the no-op server');
  return { child, address: m[1]! };
}
