// Starts the demo legacy API as a real child process (the compiled
// demo-legacy/dist/main.js, which `make test` builds before jest
// runs) and drives its admin hooks over HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import type { DemoLegacyConfig, DemoLegacyStats } from '@kvring/demo-legacy/server';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DEMO_LEGACY_MAIN = `${ROOT}demo-legacy/dist/main.js`;
const SOURCES = `${ROOT}demo-legacy/src/`;
const COMPILED = `${ROOT}demo-legacy/dist/`;

export interface LegacyProcessOptions {
  host?: string;
  /** Default 0: any free port, read back from the process's log line. */
  port?: number;
  keys?: number;
  latencyMs?: number;
  failureRate?: number;
  token?: string;
  /** Extra environment (LEGACY_* variables, LOG_LEVEL). */
  env?: Record<string, string>;
  /** Set to false to pass only `env` settings, no flags. */
  flags?: boolean;
  /** Bound on the wait for the listening line (default 15 s). */
  startTimeoutMs?: number;
}

export interface LegacyProcess {
  readonly url: string;
  readonly child: ChildProcess;
  setConfig(patch: Partial<DemoLegacyConfig>): Promise<DemoLegacyConfig>;
  stats(): Promise<DemoLegacyStats>;
  resetStats(): Promise<void>;
  addKey(key: string, value: unknown): Promise<void>;
  /** Sends SIGTERM (SIGKILL after 5 s) and resolves with the exit code. */
  stop(): Promise<number | null>;
  /** What the process printed so far (bounded), for failure messages. */
  output(): string;
}

/** Fails with a message saying what to run when dist/ is missing or older than the sources. */
export function assertDemoLegacyBuilt(): void {
  if (!existsSync(DEMO_LEGACY_MAIN)) {
    throw new Error(
      `${DEMO_LEGACY_MAIN} is missing: build it with \`make build\` ` +
        '(`make test` builds before running jest)',
    );
  }
  for (const name of readdirSync(SOURCES)) {
    if (!name.endsWith('.ts')) continue;
    const compiled = `${COMPILED}${name.slice(0, -3)}.js`;
    let compiledAt: number;
    try {
      compiledAt = statSync(compiled).mtimeMs;
    } catch {
      compiledAt = 0;
    }
    if (compiledAt < statSync(`${SOURCES}${name}`).mtimeMs) {
      throw new Error(
        `${compiled} is missing or older than demo-legacy/src/${name}: rebuild with ` +
          '`npx tsc -p tsconfig.build.json` (`make test` builds before running jest)',
      );
    }
  }
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

export async function startLegacyProcess(opts: LegacyProcessOptions = {}): Promise<LegacyProcess> {
  assertDemoLegacyBuilt();
  const args = [DEMO_LEGACY_MAIN];
  if (opts.flags !== false) {
    args.push('--host', opts.host ?? '127.0.0.1', '--port', String(opts.port ?? 0));
    if (opts.keys !== undefined) args.push('--keys', String(opts.keys));
    if (opts.latencyMs !== undefined) args.push('--latency-ms', String(opts.latencyMs));
    if (opts.failureRate !== undefined) args.push('--failure-rate', String(opts.failureRate));
    if (opts.token !== undefined) args.push('--token', opts.token);
  }
  const child = spawn(process.execPath, args, {
    env: { ...process.env, LOG_LEVEL: 'info', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (text: string): void => {
    output = (output + text).slice(-64 * 1024);
  };
  child.stderr?.setEncoding('utf8').on('data', keep);

  const limit = opts.startTimeoutMs ?? 15_000;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`demo legacy API did not report its URL within ${limit} ms; output:\n${output}`));
    }, limit);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      keep(`${line}\n`);
      try {
        const entry = JSON.parse(line) as { url?: unknown };
        if (typeof entry.url === 'string') {
          clearTimeout(timer);
          resolve(entry.url);
        }
      } catch {
        // not a log line: kept in the output only
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(
          `demo legacy API exited (code ${code}, signal ${signal}) before listening; output:\n${output}`,
        ),
      );
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });

  const admin = new Pool(url, { connections: 2 });
  async function call(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
    const res = await admin.request({
      method,
      path,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`${method} ${path}: HTTP ${res.statusCode} ${text}`);
    return JSON.parse(text) as unknown;
  }

  let stopping: Promise<number | null> | undefined;
  return {
    url,
    child,
    setConfig: async (patch) => (await call('POST', '/admin/config', patch)) as DemoLegacyConfig,
    stats: async () => (await call('GET', '/admin/stats')) as DemoLegacyStats,
    resetStats: async () => {
      await call('DELETE', '/admin/stats');
    },
    addKey: async (key, value) => {
      await call('POST', '/admin/data', { key, value });
    },
    output: () => output,
    stop: () =>
      (stopping ??= (async () => {
        await admin.close();
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          if (!(await waitForExit(child, 5_000))) {
            child.kill('SIGKILL');
            await waitForExit(child, 5_000);
          }
        }
        return child.exitCode;
      })()),
  };
}
