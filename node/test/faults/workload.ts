// The workload: a few sequential workers, each sending one request at a
// time to a node it picks, over many keys:
//   k:<n>       overwrites, deletes and reads (the registers under test;
//               k:0..7 hot; never-written ones are read-through misses)
//   u:<w>-<s>   unique keys, each written once, read back later
//   legacy:<n>  keys the demo legacy API holds (read-through hits), now and
//               then overwritten or deleted (a delete must stay deleted)
//   miss:<n>    keys nobody has (legacy 404, negative cache)
//   t:<n>       hot keys overwritten with and without a TTL, deleted, read
//               (checked as registers whose value may expire)
//   f:<n>       filler: large values no one reads, written beside the
//               workload so that the nodes' small memory budget keeps
//               evicting (not recorded in the history)
// Most workers send each request to ONE node through a single-address
// client and move to another node on their next request. Some (`retrying`)
// use the client library as an application does: given every node's
// address, it retries a request on another node when one is unavailable,
// so one operation may be applied twice; their failed writes are all in
// doubt (an earlier attempt may have committed). Others (`pipelined`) go
// through the auto-batching PipelineClient of the node they pick, one
// client per node shared by those workers: operations they issue in one
// event-loop turn travel in one Pipeline frame, and the node runs them
// concurrently, so the guarantees are checked on the fast path too. Every
// value is unique, so a read names the write it saw.
import { KvClient, PipelineClient, Source } from '@kvring/client';
import { describeError, outcomeOfError, type ErrorLike } from './classify.js';
import type { HistoryRecorder, InvokeEvent, OpKind, Outcome } from './history.js';
import { seededRandom } from '@kvring/test-support/prng';

export interface WorkloadNode {
  readonly name: string;
  readonly clientAddress: string;
  /** Not in the cluster (a pod not added yet or scaled away): no worker picks it. */
  readonly standby?: boolean;
}

export interface WorkloadOptions {
  readonly workers: number;
  /** Register keys k:0..keys-1. */
  readonly keys: number;
  /** legacy:1..legacyKeys (the demo API seeds legacy:1..1000). */
  readonly legacyKeys: number;
  readonly missKeys: number;
  readonly ttlKeys: number;
  /** Client deadline per request. */
  readonly timeoutMs: number;
  readonly seed: number;
  /** Workers 0..retrying-1 use one client given every node address (it retries elsewhere). */
  readonly retrying: number;
  /** Workers retrying..retrying+pipelined-1 use the PipelineClient of the node they pick. */
  readonly pipelined: number;
  /** Size of each filler value (0: no filler). */
  readonly fillerBytes: number;
  /** Pause between two filler writes. */
  readonly fillerGapMs: number;
}

export const DEFAULT_WORKLOAD: WorkloadOptions = {
  workers: 10,
  keys: 120,
  legacyKeys: 60,
  missKeys: 40,
  ttlKeys: 8,
  timeoutMs: 2_000,
  seed: 1,
  retrying: 3,
  pipelined: 3,
  // With KVRING_MAX_MEMORY at 1 MiB (env.ts) a node's cache turns over
  // several times a second.
  fillerBytes: 32 * 1024,
  fillerGapMs: 20,
};

export interface OpCounts {
  attempted: number;
  ok: number;
  failed: number;
  inDoubt: number;
}

export interface WorkloadCounts {
  readonly total: OpCounts;
  readonly byKind: Record<OpKind, OpCounts>;
  /** Successful reads answered from the legacy API (read-through). */
  readThroughHits: number;
  /** Filler writes acknowledged (not in the history). */
  fillerWrites: number;
  /** The share of the history that went through the Pipeline clients. */
  readonly pipelined: OpCounts;
}

/** The seeded PRNG of the test support, so a scenario's op mix can be replayed. */
export const rng = seededRandom;

const HOT_KEYS = 8;

/** The history's coordinator name for an operation of the retrying client. */
export const RETRYING = 'any (retrying client)';

/** The history's coordinator name for an operation of a node's pipelined client. */
export const pipelinedVia = (node: string): string => `${node} (pipelined)`;

/** What a worker sends through: the single-address unary client, the Pipeline client, or the retrying one. */
type Via = 'unary' | 'pipelined' | 'retrying';

const zero = (): OpCounts => ({ attempted: 0, ok: 0, failed: 0, inDoubt: 0 });

interface Planned {
  readonly f: OpKind;
  readonly key: string;
  readonly ttlMs?: number;
}

export class Workload {
  readonly counts: WorkloadCounts = {
    total: zero(),
    byKind: { write: zero(), delete: zero(), read: zero() },
    readThroughHits: 0,
    fillerWrites: 0,
    pipelined: zero(),
  };
  /** Writes and deletes in flight per coordinator, so a fault can pick a busy one. */
  readonly inflightWrites = new Map<string, number>();
  private readonly clients: Map<string, KvClient>;
  private readonly pipelines: Map<string, PipelineClient>;
  /** The application's view: one client, every address, retries on another node. */
  private readonly retryingClient: KvClient;
  private readonly avoidUntil = new Map<string, number>();
  private readonly uniqueKeys: string[] = [];
  private readonly frozen = new Set<string>();
  private stopping = false;
  private running: Promise<void> | undefined;
  private phase = 0;
  private hardStop = 0;
  private readonly seq: number[] = [];
  private readonly generation: number[] = [];

  constructor(
    private readonly nodes: readonly WorkloadNode[],
    private readonly history: HistoryRecorder,
    readonly opts: WorkloadOptions = DEFAULT_WORKLOAD,
  ) {
    this.clients = new Map(
      nodes.map((n) => [n.name, new KvClient(n.clientAddress, { timeoutMs: opts.timeoutMs })]),
    );
    this.pipelines = new Map(
      nodes.map((n) => [n.name, new PipelineClient(n.clientAddress, { timeoutMs: opts.timeoutMs })]),
    );
    this.retryingClient = new KvClient(
      nodes.map((n) => n.clientAddress),
      { timeoutMs: opts.timeoutMs },
    );
    for (const n of nodes) this.inflightWrites.set(n.name, 0);
    // Legacy keys start out holding the demo API's value, not absent.
    for (let i = 1; i <= opts.legacyKeys; i++) history.init(`legacy:${i}`, `legacy-value-${i}`);
  }

  /** Every key the workload may touch (for the final comparison with PostgreSQL). */
  keyPrefixes(): string[] {
    return ['k:', 'u:', 'legacy:', 'miss:', 't:', 'f:'];
  }

  /** Starts the workers; they run until stop(). */
  /**
   * Starts the workers; they run until stop(), or at most `maxMs` (a bound
   * in case a scenario never gets to stop them). May be called again after stop().
   */
  start(maxMs = 15 * 60_000): void {
    if (this.running !== undefined && !this.stopping) return;
    this.stopping = false;
    this.hardStop = performance.now() + maxMs;
    this.phase++;
    const r = rng(this.opts.seed + this.phase);
    this.running = Promise.all([
      ...Array.from({ length: this.opts.workers }, (_, w) => this.worker(w, rng(Math.floor(r() * 2 ** 32)))),
      this.filler(),
    ]).then(() => undefined);
  }

  /** Stops issuing requests and waits for those in flight (bounded by the client deadline). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    for (const c of this.pipelines.values()) c.close();
    this.retryingClient.close();
  }

  /** From now on the workload only reads `key` (the control scenario damages it and must see that). */
  freeze(key: string): void {
    this.frozen.add(key);
  }

  /** The coordinator with the most writes in flight right now. */
  busiestCoordinator(): string | undefined {
    let best: string | undefined;
    let most = -1;
    for (const [name, n] of this.inflightWrites)
      if (n > most) {
        most = n;
        best = name;
      }
    return best;
  }

  private async worker(w: number, random: () => number): Promise<void> {
    // Sequence numbers (and so values) and process ids carry on across phases.
    while (!this.stopping && performance.now() < this.hardStop) {
      const seq = (this.seq[w] = (this.seq[w] ?? -1) + 1);
      let plan = this.plan(w, seq, random);
      if (plan.f !== 'read' && this.frozen.has(plan.key)) plan = { f: 'read', key: plan.key };
      const node = this.pickNode(w + seq);
      // A worker whose last operation is in doubt is, for the checker, a
      // client that crashed mid-request: it goes on under a new process id.
      const proc = w + this.opts.workers * (this.generation[w] ?? 0);
      const { retrying, pipelined } = this.opts;
      const via: Via = w < retrying ? 'retrying' : w < retrying + pipelined ? 'pipelined' : 'unary';
      const outcome = await this.run(proc, via === 'retrying' ? undefined : node, via, plan, `w${w}-${seq}`);
      if (outcome === 'info') this.generation[w] = (this.generation[w] ?? 0) + 1;
      // Like a real client, do not spin on a cluster that refuses everything.
      if (outcome !== 'ok') await new Promise((r) => setTimeout(r, 20));
    }
  }

  private plan(w: number, seq: number, random: () => number): Planned {
    const { keys, legacyKeys, missKeys, ttlKeys } = this.opts;
    const pick = (n: number): number => Math.floor(random() * n);
    // Four in ten register operations go to a few hot keys, so that
    // operations on one key overlap (where linearizability can break).
    const k = (): string => `k:${random() < 0.4 ? pick(HOT_KEYS) : pick(keys)}`;
    const t = (): string => `t:${pick(ttlKeys)}`;
    const x = random();
    if (x < 0.3) return { f: 'read', key: k() };
    if (x < 0.52) return { f: 'write', key: k() };
    if (x < 0.57) return { f: 'delete', key: k() };
    if (x < 0.63) return { f: 'write', key: `u:${w}-${seq}` };
    if (x < 0.68) {
      const u = this.uniqueKeys[pick(this.uniqueKeys.length)];
      return u === undefined ? { f: 'read', key: k() } : { f: 'read', key: u };
    }
    if (x < 0.76) return { f: 'read', key: `legacy:${1 + pick(legacyKeys)}` };
    if (x < 0.78) return { f: 'write', key: `legacy:${1 + pick(legacyKeys)}` };
    if (x < 0.79) return { f: 'delete', key: `legacy:${1 + pick(legacyKeys)}` };
    if (x < 0.82) return { f: 'read', key: `miss:${pick(missKeys)}` };
    // TTL keys: TTL overwrites (short enough to expire within a fault),
    // plain overwrites and deletes of the same few keys.
    if (x < 0.88) return { f: 'write', key: t(), ttlMs: 500 + pick(2_000) };
    if (x < 0.9) return { f: 'write', key: t() };
    if (x < 0.92) return { f: 'delete', key: t() };
    return { f: 'read', key: t() };
  }

  /** Large values of keys nobody reads, so the small memory budget evicts all the time. */
  private async filler(): Promise<void> {
    if (this.opts.fillerBytes <= 0) return;
    const value = Buffer.alloc(this.opts.fillerBytes, 0x66);
    for (let i = 0; !this.stopping && performance.now() < this.hardStop; i++) {
      const key = `f:${this.phase}-${i}`;
      try {
        await this.clients.get(this.pickNode(i).name)!.set(key, value);
        this.counts.fillerWrites++;
      } catch {
        // filler only: its failures are not under test
      }
      await new Promise((r) => setTimeout(r, this.opts.fillerGapMs));
    }
  }

  private pickNode(i: number): WorkloadNode {
    const now = performance.now();
    const members = this.nodes.filter((n) => n.standby !== true);
    const pool = members.length > 0 ? members : this.nodes;
    for (let k = 0; k < pool.length; k++) {
      const n = pool[(i + k) % pool.length]!;
      if ((this.avoidUntil.get(n.name) ?? 0) <= now) return n;
    }
    return pool[i % pool.length]!;
  }

  private clientFor(node: WorkloadNode | undefined, via: Via): KvClient | PipelineClient {
    if (node === undefined) return this.retryingClient;
    return via === 'pipelined' ? this.pipelines.get(node.name)! : this.clients.get(node.name)!;
  }

  /** One operation; `node` undefined: through the retrying client (it picks the node). */
  private async run(
    proc: number,
    node: WorkloadNode | undefined,
    via: Via,
    plan: Planned,
    value: string,
  ): Promise<Outcome> {
    const client = this.clientFor(node, via);
    const c = this.counts;
    const isWrite = plan.f !== 'read';
    const inv: InvokeEvent = this.history.invoke({
      proc,
      f: plan.f,
      key: plan.key,
      node: node === undefined ? RETRYING : via === 'pipelined' ? pipelinedVia(node.name) : node.name,
      ...(plan.f === 'write' ? { value } : {}),
      ...(plan.ttlMs !== undefined ? { ttlMs: plan.ttlMs } : {}),
    });
    const tally =
      via === 'pipelined' ? [c.total, c.byKind[plan.f], c.pipelined] : [c.total, c.byKind[plan.f]];
    for (const t of tally) t.attempted++;
    if (isWrite && node) this.inflightWrites.set(node.name, (this.inflightWrites.get(node.name) ?? 0) + 1);
    let outcome: Outcome;
    try {
      if (plan.f === 'read') {
        const r = await client.get(plan.key);
        const found = r.found;
        this.history.complete(inv, 'ok', {
          found,
          ...(found ? { value: r.value.toString('utf8'), version: r.version } : {}),
        });
        if (found && r.source === Source.SOURCE_LEGACY) c.readThroughHits++;
      } else {
        const version =
          plan.f === 'write'
            ? await client.set(plan.key, value, plan.ttlMs !== undefined ? { ttlMs: plan.ttlMs } : {})
            : await client.delete(plan.key);
        this.history.complete(inv, 'ok', { version });
        if (plan.key.startsWith('u:') && plan.f === 'write') this.uniqueKeys.push(plan.key);
      }
      outcome = 'ok';
      for (const t of tally) t.ok++;
    } catch (err) {
      const e = err as ErrorLike;
      outcome = outcomeOfError(plan.f, e, { retried: node === undefined });
      this.history.complete(inv, outcome, { error: describeError(e) });
      for (const t of tally) {
        if (outcome === 'fail') t.failed++;
        else t.inDoubt++;
      }
      // Unique keys in doubt are still read back: they may exist.
      if (plan.key.startsWith('u:') && outcome === 'info') this.uniqueKeys.push(plan.key);
      if (node) this.avoidUntil.set(node.name, performance.now() + 300);
    } finally {
      if (isWrite && node) this.inflightWrites.set(node.name, (this.inflightWrites.get(node.name) ?? 1) - 1);
    }
    return outcome;
  }
}
