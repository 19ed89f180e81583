// Old and new nodes in one cluster: a rolling upgrade from the node of an
// older commit (scripts/old-version/build.sh, the upgrade baseline) to this
// checkout's, member by member, and the rollback, under the fault suite's
// recorded workload (overwrites, deletes, hot keys, read-through, TTLs). The
// fault suite's checker then asks: no acknowledged write lost, no stale or
// resurrected read, no value from nowhere. Success rates are printed per
// phase; the assertion on them is a loose floor (a member stopped for its
// upgrade refuses the single-address workers that pick it, as a pod does).
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { NODE_MAIN, type LocalNode } from '@kvring/devcluster/local-cluster';
import { check } from '../faults/checker.js';
import { pgRows } from '../faults/convergence.js';
import { finalReads } from '../faults/final-reads.js';
import { HistoryRecorder, operations } from '../faults/history.js';
import { DEFAULT_WORKLOAD, RETRYING, Workload, type OpCounts } from '../faults/workload.js';
import { PEER_PROTOCOL_VERSION } from '../../src/peer/protocol.js';
import { FAST_REPAIR_ENV, startTestEnv, type TestEnv } from '../support/cluster.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Load between two steps of the rollout, so that every mix of versions serves traffic. */
const STEP_LOAD_MS = 2_000;

let env: TestEnv;
let oldMain: string;

beforeAll(async () => {
  const t0 = performance.now();
  const dir = execFileSync('bash', [join(ROOT, 'scripts/old-version/build.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  oldMain = join(dir, 'node/dist/main.js');
  console.log(`old node: ${oldMain} (ready in ${Math.round(performance.now() - t0)} ms)`);
  // Every member starts on the old version, as a cluster before its upgrade.
  env = await startTestEnv({
    program: () => oldMain,
    env: { ...FAST_REPAIR_ENV },
  });
}, 120_000);

afterAll(async () => {
  await env?.stop();
}, 60_000);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One member to another program, as a StatefulSet rollout does: SIGTERM, start, ready, peers converged. */
async function roll(n: LocalNode, program: string): Promise<void> {
  await n.stop();
  n.useProgram(program);
  await n.startReady();
  await env.cluster.waitConverged();
}

/** The peer protocol version `n` has from `member`'s Hello (kvring_peer_protocol_version), or undefined. */
async function protocolSeen(n: LocalNode, member: string): Promise<number | undefined> {
  const text = await (await fetch(`${n.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`kvring_peer_protocol_version{member="${member}"}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

function minus(a: OpCounts, b: OpCounts): OpCounts {
  return {
    attempted: a.attempted - b.attempted,
    ok: a.ok - b.ok,
    failed: a.failed - b.failed,
    inDoubt: a.inDoubt - b.inDoubt,
  };
}

/**
 * The operations of the workers that use the client as an application does
 * (every member's address, a refused call retried on another member): the
 * others send each call to one member, which a rollout stops for a while.
 */
function retryingCounts(history: HistoryRecorder): OpCounts {
  const c: OpCounts = { attempted: 0, ok: 0, failed: 0, inDoubt: 0 };
  for (const op of operations(history.events)) {
    if (op.invoke.node !== RETRYING) continue;
    c.attempted++;
    if (op.complete?.type === 'ok') c.ok++;
    else if (op.complete?.type === 'fail') c.failed++;
    else c.inDoubt++;
  }
  return c;
}

const rate = (c: OpCounts): string =>
  `${((100 * c.ok) / Math.max(1, c.attempted)).toFixed(2)}% (${c.ok} of ${c.attempted}; ` +
  `${c.failed} failed, ${c.inDoubt} in doubt)`;

it('serves a rolling upgrade old -> new and the rollback new -> old under load: nothing lost, nothing stale', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvring-mixed-'));
  const history = new HistoryRecorder(join(dir, 'history.jsonl'));
  const nodes = env.cluster.nodes;
  const workload = new Workload(nodes, history, { ...DEFAULT_WORKLOAD, fillerBytes: 0, seed: 15 });
  const phases: Array<{ name: string; counts: OpCounts }> = [];
  let mark = { ...workload.counts.total };
  const phase = (name: string): void => {
    const now = { ...workload.counts.total };
    phases.push({ name, counts: minus(now, mark) });
    mark = now;
  };
  try {
    workload.start();
    await sleep(STEP_LOAD_MS);
    phase('all old');
    const [first, second, third] = nodes as [LocalNode, LocalNode, LocalNode];
    const seen: Record<string, number | undefined> = {};
    for (const n of nodes) {
      await roll(n, NODE_MAIN);
      // The first new member hears the old ones tell no version.
      if (n === first) seen.oldByNew = await protocolSeen(first, second.name);
      await sleep(STEP_LOAD_MS);
    }
    seen.newByNew = await protocolSeen(first, second.name);
    phase('upgrade old -> new, member by member');
    await sleep(STEP_LOAD_MS);
    phase('all new');
    for (const n of [...nodes].reverse()) {
      await roll(n, oldMain);
      if (n === third) seen.rolledBackByNew = await protocolSeen(first, third.name);
      await sleep(STEP_LOAD_MS);
    }
    expect(seen).toEqual({ oldByNew: 0, newByNew: PEER_PROTOCOL_VERSION, rolledBackByNew: 0 });
    phase('rollback new -> old, member by member');
    await workload.stop();
  } finally {
    await workload.stop();
    workload.close();
  }
  const finals = await finalReads(nodes, history);
  const rows = await pgRows(env);
  await history.close();
  const result = check({ events: history.events, rows, finalReads: finals.reads });

  for (const p of phases) console.log(`mixed versions, ${p.name}: ${rate(p.counts)}`);
  console.log(
    `mixed versions, the application's client (every address, retries elsewhere): ` +
      rate(retryingCounts(history)),
  );
  const total = workload.counts.total;
  console.log(
    `mixed versions, whole run: ${rate(total)}; acknowledged writes ${result.ackedWrites} ` +
      `(${result.present} present, ${result.superseded} superseded, ${result.lost} lost), ` +
      `reads checked ${result.readsChecked} (${result.staleReads} stale, ${result.resurrected} resurrected); ` +
      `final reads failed ${finals.errors}; history ${join(dir, 'history.jsonl')}`,
  );
  expect(result.examples).toEqual([]);
  expect(result.lost).toBe(0);
  expect(result.deletesLost).toBe(0);
  expect(result.staleReads).toBe(0);
  expect(result.resurrected).toBe(0);
  expect(result.phantomValues).toBe(0);
  expect(result.failedWritesVisible).toBe(0);
  expect(result.versionConflicts).toBe(0);
  expect(result.finalReadMismatches).toBe(0);
  expect(finals.errors).toBe(0);
  // A loose floor: the workload went on through every step.
  expect(result.ackedWrites).toBeGreaterThan(200);
  expect(total.ok / total.attempted).toBeGreaterThan(0.8);
  for (const n of nodes) expect(n.program).toBe(oldMain);
}, 240_000);
