// Running a command to completion with a bound: what every test helper that
// shells out (kubectl, helm, promtool, ctr, the scripts) shares.
import { execFile } from 'node:child_process';
import { REPO_ROOT } from './binaries.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the command's stdin (e.g. a manifest for `kubectl apply -f -`). */
  input?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Killed with SIGKILL after this long (default 120 s); the result then has code -1. */
  timeoutMs?: number;
}

/** Runs a command to completion; never rejects on a non-zero exit (see runOk), only when it cannot start. */
export function run(cmd: string, args: readonly string[], o: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      [...args],
      {
        cwd: o.cwd ?? REPO_ROOT,
        env: o.env ?? process.env,
        timeout: o.timeoutMs ?? 120_000,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: string }) | null;
        if (e && typeof e.code === 'string') {
          reject(new Error(`${cmd}: ${e.message}`));
          return;
        }
        // A number: the exit status; none: killed (timeout or signal), which stderr says.
        const killed = e && typeof e.code !== 'number' ? `(killed by ${e.signal ?? 'a signal'})` : '';
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : -1) : 0,
          stdout,
          stderr: stderr + killed,
        });
      },
    );
    // A command that never reads its input closes the pipe early: not an error.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(o.input ?? '');
  });
}

/** Runs a command that must succeed; returns its stdout. */
export async function runOk(cmd: string, args: readonly string[], o: RunOptions = {}): Promise<string> {
  const r = await run(cmd, args, o);
  if (r.code !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} failed (exit ${r.code}):\n${r.stderr || r.stdout}`.slice(0, 8000),
    );
  return r.stdout;
}
