// A child process of the local tooling (make run, tests, benchmarks): its
// output kept in a log file and a bounded tail for failure messages, and
// stop/kill/pause that leave nothing behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

const TAIL_BYTES = 16 * 1024;

export interface ChildSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** File receiving stdout and stderr (appended across restarts). */
  readonly logFile?: string;
  /** Also copy output to this process's stdout. */
  readonly echo?: boolean;
}

export class Child {
  child: ChildProcess | undefined;
  private tail = '';
  private log: WriteStream | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);

  constructor(public spec: ChildSpec) {}

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.running) return;
    const { spec } = this;
    this.log ??= spec.logFile ? createWriteStream(spec.logFile, { flags: 'a' }) : undefined;
    const child = spawn(spec.command, [...spec.args], {
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const onData = (chunk: Buffer): void => {
      this.log?.write(chunk);
      if (spec.echo) process.stdout.write(chunk);
      this.tail = (this.tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Everything the process printed recently. */
  output(): string {
    return this.tail;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child!.kill(sig);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  async stop(graceMs = 10_000): Promise<number | null> {
    if (!this.running) return this.exited;
    this.child!.kill('SIGCONT'); // a paused process cannot handle SIGTERM
    this.child!.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  /** SIGKILL: a crash, as chaos tests want it. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGKILL');
    await this.exited;
  }

  closeLog(): void {
    this.log?.end();
    this.log = undefined;
  }
}
