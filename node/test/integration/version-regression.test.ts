// PostgreSQL losing commits under a running 3-node cluster (what a restore
// from a backup or a failover to an asynchronous standby does): the rows and
// the version sequence go back to an earlier snapshot while the replicas
// still hold later versions. Writes must then fail loudly (DATA_LOSS,
// VERSION_REGRESSION, a metric, an error log line) instead of being
// acknowledged while every replica ignores them; reads keep serving the last
// acknowledged value; the README's recovery makes writes work again.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { KVServiceClient } from '../../src/gen/kvring/v1/kvring.js';
import { startTestEnv, type TestEnv } from '../support/cluster.js';

let env: TestEnv;
let stubs: KVServiceClient[];

beforeAll(async () => {
  // Anti-entropy would read PostgreSQL's rows into each node's high-water
  // mark on its own schedule; keep it out of the way so the test decides
  // which node saw which version.
  env = await startTestEnv({ env: { KVRING_ANTI_ENTROPY_INTERVAL: '1h' } });
  stubs = env.cluster.nodes.map((n) => new KVServiceClient(n.clientAddress, credentials.createInsecure()));
}, 120_000);

afterAll(async () => {
  for (const s of stubs ?? []) s.close();
  await env?.stop();
}, 60_000);

/** Set through node `i` (its coordinator): the version, or the gRPC error. */
function set(i: number, key: string, value: string): Promise<{ version: number } | ServiceError> {
  return new Promise((resolve) => {
    stubs[i]!.set({ key, value: Buffer.from(value), ttlMs: 0, idempotencyKey: '' }, (err, res) =>
      resolve(err ?? { version: res.version }),
    );
  });
}

async function acked(i: number, key: string, value: string): Promise<number> {
  const r = await set(i, key, value);
  if ('code' in r) throw new Error(`set ${key} through node ${i} failed: ${r.details}`);
  return r.version;
}

/** The sum of `name`'s series on node `i` whose labels include `labels` (e.g. 'detector="node"'). */
async function metric(i: number, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${env.cluster.nodes[i]!.httpUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m?.[1] === name && (m[2] ?? '').includes(labels)) sum += Number(m[3]);
  }
  return sum;
}

describe('version regression (PostgreSQL lost commits)', () => {
  it('refuses writes with DATA_LOSS on every detector, serves no stale value, and recovers by the README procedure', async () => {
    // Before the "backup": every node writes, so every node has seen versions.
    for (let i = 0; i < 3; i++) await acked(i, `rg:pre${i}`, 'x');
    await acked(1, 'rg:k', 'old');
    await env.sql('CREATE TABLE backup AS SELECT * FROM kv_store');
    const [{ last }] = (await env.sql<{ last: string }>(
      'SELECT last_value::text AS last FROM kv_store_version_seq',
    )) as [{ last: string }];

    // Acknowledged after the backup, through node 0 only: these are lost.
    for (let i = 0; i < 20; i++) await acked(0, `rg:lost${i}`, 'y');
    const lostVersion = await acked(0, 'rg:k', 'lost');

    // The restore: rows and sequence as they were at the backup.
    await env.sql(`BEGIN; DELETE FROM kv_store; INSERT INTO kv_store SELECT * FROM backup;
                   SELECT setval('kv_store_version_seq', ${last}); COMMIT`);

    // Node 1 never saw the lost versions: its replicas' refusal gives it away.
    const viaReplica = await set(1, 'rg:k', 'after');
    expect(viaReplica).toMatchObject({ code: status.DATA_LOSS });
    expect((viaReplica as ServiceError).details).toMatch(/replica \S+ holds version \d+ .*lost commits/);
    // Node 0 saw them: its own high-water mark gives it away, for any key.
    const viaNode = await set(0, 'rg:fresh', 'z');
    expect(viaNode).toMatchObject({ code: status.DATA_LOSS });
    expect((viaNode as ServiceError).details).toMatch(/this node saw version \d+ committed before/);

    // A read that needs PostgreSQL's answer (no replica holds the key) fails
    // loudly on a node that detected the loss, instead of serving what the
    // restored PostgreSQL says.
    await env.sql(
      `INSERT INTO kv_store (key, value, version, tombstone) VALUES ('rg:only-pg', 'restored', 1, false)`,
    );
    await expect(env.clients[0]!.get('rg:only-pg')).rejects.toMatchObject({
      reason: 'VERSION_REGRESSION',
      code: status.DATA_LOSS,
    });

    // No node serves the restored (older) value or the refused one.
    for (const c of env.clients) {
      const r = await c.get('rg:k');
      expect([r.value.toString(), r.version]).toEqual(['lost', lostVersion]);
    }
    expect(await metric(1, 'kvring_version_regressions_total', 'detector="replica"')).toBeGreaterThanOrEqual(
      1,
    );
    expect(await metric(0, 'kvring_version_regressions_total', 'detector="node"')).toBeGreaterThanOrEqual(1);
    const log = readFileSync(join(env.cluster.logDir, `${env.cluster.nodes[1]!.name}.log`), 'utf8');
    expect(log).toMatch(/version regression: .*setval/);

    // Recovery (README, "Version regression"): advance the sequence above the
    // highest version any pod reports and any version the errors named.
    let high = lostVersion;
    for (let i = 0; i < 3; i++) high = Math.max(high, await metric(i, 'kvring_version_high_water'));
    await env.sql(`SELECT setval('kv_store_version_seq', $1)`, [high + 1_000_000]);
    const fixed = await acked(1, 'rg:k', 'fixed');
    expect(fixed).toBeGreaterThan(lostVersion);
    expect(await acked(0, 'rg:fresh', 'z')).toBeGreaterThan(fixed);
    for (const c of env.clients) expect((await c.get('rg:k')).value.toString()).toBe('fixed');
    // Recovered: reads that need PostgreSQL are served again.
    expect((await env.clients[0]!.get('rg:only-pg')).value.toString()).toBe('restored');
  }, 120_000);
});
