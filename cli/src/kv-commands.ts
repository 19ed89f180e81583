// get, set, del and mget: one call each through the client library.
import type { KvClient } from '@kvring/client';
import { EXIT_FAILED, EXIT_OK, encodeValue, sourceName, type Io } from './output.js';

export interface KvCommandContext {
  readonly client: KvClient;
  readonly io: Io;
  readonly json: boolean;
}

const json = (v: unknown): string => `${JSON.stringify(v)}\n`;

export async function getCommand(ctx: KvCommandContext, key: string): Promise<number> {
  const r = await ctx.client.get(key);
  if (ctx.json) {
    const v = r.found ? encodeValue(r.value) : { value: null, encoding: null };
    ctx.io.out(
      json({ key, found: r.found, ...v, version: r.version, source: r.found ? sourceName(r.source) : null }),
    );
  } else if (r.found) {
    ctx.io.out(`${r.value.toString('utf8')}\n`);
  }
  if (!r.found) {
    ctx.io.err(`not found: ${key}\n`);
    return EXIT_FAILED;
  }
  return EXIT_OK;
}

export async function setCommand(
  ctx: KvCommandContext,
  key: string,
  value: Buffer,
  ttlMs: number | undefined,
): Promise<number> {
  const version = await ctx.client.set(key, value, ttlMs === undefined ? {} : { ttlMs });
  ctx.io.out(ctx.json ? json({ key, version }) : `${version}\n`);
  return EXIT_OK;
}

export async function delCommand(ctx: KvCommandContext, key: string): Promise<number> {
  const version = await ctx.client.delete(key);
  ctx.io.out(ctx.json ? json({ key, version }) : `${version}\n`);
  return EXIT_OK;
}

/** One line per key, `KEY<TAB>VALUE`, or `KEY<TAB>(not found)`; exit 0 even when some are missing. */
export async function mgetCommand(ctx: KvCommandContext, keys: readonly string[]): Promise<number> {
  const items = await ctx.client.mget(keys);
  if (ctx.json) {
    ctx.io.out(
      json(
        items.map((it) => ({
          key: it.key,
          found: it.found,
          ...(it.found ? encodeValue(it.value) : { value: null, encoding: null }),
          version: it.version,
        })),
      ),
    );
  } else {
    ctx.io.out(
      items.map((it) => `${it.key}\t${it.found ? it.value.toString('utf8') : '(not found)'}\n`).join(''),
    );
  }
  return EXIT_OK;
}
