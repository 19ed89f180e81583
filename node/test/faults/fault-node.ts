// A node process inside its network namespace (`nsenter --net=...` execs
// the node, so the child's pid is the node's: signals reach it directly),
// optionally with a skewed clock through Debian's libfaketime (LD_PRELOAD
// and FAKETIME, as the `faketime` wrapper sets them; the wrapper itself
// forks and would take the signals meant for the node). It tells an exit
// the suite caused (kill, stop) from a crash.
import { appendFileSync, existsSync } from 'node:fs';
import { NODE_MAIN } from '@kvring/devcluster/local-cluster';
import { Child } from '@kvring/devcluster/process';
import type { Pod } from './dns.js';

/** The node's default KVRING_PEER_PORT. */
const PEER_PORT = 50052;

export const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';

/**
 * The node program: scripts/faults.sh points this at a copy of dist/ taken
 * when the run starts, so a rebuild by someone else mid-run cannot mix
 * versions (or catch a half-written file) between node restarts.
 */
export const FAULT_NODE_MAIN = process.env.KVRING_FAULTS_NODE_MAIN ?? NODE_MAIN;

export interface FaultNodeOptions {
  readonly name: string;
  readonly host: string;
  /** /run/netns/NAME */
  readonly netns: string;
  readonly env: Record<string, string>;
  readonly logFile: string;
  /** libfaketime offset, e.g. "-2h" or "+90m" (wall clock and monotonic clock both shift). */
  readonly faketime?: string;
  /** File listing "pid marker" lines, for cleanup after a crash of the suite itself. */
  readonly pidRegistry?: string;
}

export interface Crash {
  readonly node: string;
  readonly code: number | null;
  readonly signal: string | null;
  readonly logTail: string;
}

export class FaultNode extends Child {
  readonly name: string;
  readonly host: string;
  private expectExit = false;
  readonly crashes: Crash[] = [];
  paused = false;
  /**
   * Not part of the cluster (a pod a scale-up may add): the suite's setup
   * does not start it and the heal does not restart it.
   */
  standby = false;

  constructor(private readonly o: FaultNodeOptions) {
    if (o.faketime !== undefined && !existsSync(LIBFAKETIME))
      throw new Error(
        `${LIBFAKETIME} is missing: install Debian's faketime package (scripts/faults.sh does)`,
      );
    const env: Record<string, string> = { ...o.env };
    if (o.faketime !== undefined) {
      env.LD_PRELOAD = LIBFAKETIME;
      env.FAKETIME = o.faketime;
    }
    super({
      name: o.name,
      command: 'nsenter',
      args: [`--net=${o.netns}`, '--', process.execPath, FAULT_NODE_MAIN],
      env,
      logFile: o.logFile,
    });
    this.name = o.name;
    this.host = o.host;
  }

  get clientAddress(): string {
    return `${this.host}:50051`;
  }

  get peerAddress(): string {
    return `${this.host}:${PEER_PORT}`;
  }

  /** What the Service's DNS lists for this node. */
  get pod(): Pod {
    return { name: this.name, host: this.host, peerPort: PEER_PORT };
  }

  get httpUrl(): string {
    return `http://${this.host}:8080`;
  }

  override start(): void {
    if (this.running) return;
    this.expectExit = false;
    this.paused = false;
    super.start();
    const child = this.child!;
    if (this.o.pidRegistry && child.pid !== undefined)
      appendFileSync(this.o.pidRegistry, `${child.pid} ${FAULT_NODE_MAIN}\n`);
    child.once('exit', (code, signal) => {
      if (!this.expectExit)
        this.crashes.push({ node: this.name, code, signal, logTail: this.output().slice(-3000) });
    });
  }

  /** Starts the node and waits for /readyz (bounded). */
  async startReady(timeoutMs = 30_000): Promise<void> {
    this.start();
    const deadline = performance.now() + timeoutMs;
    let last = '';
    while (performance.now() < deadline) {
      if (!this.running)
        throw new Error(`node ${this.name} exited while starting:\n${this.output().slice(-3000)}`);
      try {
        const res = await fetch(`${this.httpUrl}/readyz`, { signal: AbortSignal.timeout(1000) });
        last = await res.text();
        if (res.status === 200) return;
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`node ${this.name} not ready after ${timeoutMs} ms (${last.trim()})`);
  }

  override async kill(): Promise<void> {
    this.expectExit = true;
    this.paused = false;
    await super.kill();
  }

  override async stop(graceMs = 10_000): Promise<number | null> {
    this.expectExit = true;
    this.paused = false;
    return super.stop(graceMs);
  }

  pause(): void {
    this.signal('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    this.signal('SIGCONT');
    this.paused = false;
  }
}
