// A node's configuration: KVRING_* environment variables, overridden by the
// matching --flags, validated once at start. Every error names the setting.
import { hostname } from 'node:os';
import { checkPurgeHorizon } from './purge-horizon.js';
import { ConfigError, SETTINGS, flagName, parseValue, type SettingSpec } from './settings.js';

type SettingKey = (typeof SETTINGS)[number]['key'];
type ValueOf<K extends SettingKey> = Extract<(typeof SETTINGS)[number], { key: K }>['kind'] extends 'string'
  ? string
  : number;

export type NodeConfig = { readonly [K in SettingKey]: ValueOf<K> } & {
  /** Static members parsed from `peers`: name -> host:peerPort. */
  readonly staticPeers: ReadonlyMap<string, string>;
};

export { ConfigError };

/**
 * Reads the configuration from `env` and `argv` (flags win). Throws
 * ConfigError naming the first bad setting.
 *
 * Not commander's Option.env(): commander 14 reads variables from the global
 * process.env only (Command._parseOptionsEnv), and callers hand this function
 * an environment of their own: the operator's contract test passes the env
 * of the pod it renders, the unit tests theirs. Commander would also run its
 * argParser on given values but not on defaults, so the checks of
 * settings.ts would still be needed beside it. (The operator uses commander
 * the same way for the same reason: env values as defaults, not .env().)
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = []): NodeConfig {
  const raw = new Map<string, string>();
  for (const s of SETTINGS) {
    const v = env[s.env];
    if (v !== undefined) raw.set(s.env, v);
  }
  const byFlag = new Map(SETTINGS.map((s) => [flagName(s.env), s as SettingSpec]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const spec = byFlag.get(name);
    if (!spec) throw new ConfigError(`unknown flag ${name} (run with --help for the list)`);
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(`${name}: missing value`);
    raw.set(spec.env, value);
  }
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) out[s.key] = parseValue(s, raw.get(s.env) ?? s.default);
  const cfg = out as { -readonly [K in SettingKey]: ValueOf<K> };
  if (!cfg.nodeName) cfg.nodeName = hostname();
  if (!cfg.advertiseHost)
    cfg.advertiseHost = cfg.host === '0.0.0.0' || cfg.host === '::' ? hostname() : cfg.host;
  validate(cfg);
  return { ...cfg, staticPeers: parsePeers(cfg.peers) };
}

function validate(c: { [K in SettingKey]: ValueOf<K> }): void {
  const fail = (msg: string): never => {
    throw new ConfigError(msg);
  };
  if (c.readQuorum > c.replicationFactor)
    fail(
      `KVRING_READ_QUORUM (${c.readQuorum}) must not exceed KVRING_REPLICATION_FACTOR (${c.replicationFactor})`,
    );
  if (c.writeQuorum > c.replicationFactor)
    fail(
      `KVRING_WRITE_QUORUM (${c.writeQuorum}) must not exceed KVRING_REPLICATION_FACTOR (${c.replicationFactor})`,
    );
  if (c.readQuorum + c.writeQuorum <= c.replicationFactor)
    fail(
      `KVRING_READ_QUORUM + KVRING_WRITE_QUORUM (${c.readQuorum} + ${c.writeQuorum}) must exceed ` +
        `KVRING_REPLICATION_FACTOR (${c.replicationFactor}), or reads could miss acknowledged writes`,
    );
  if (!/^[a-z_][a-z0-9_]{0,62}$/i.test(c.postgresTable))
    fail(
      `KVRING_POSTGRES_TABLE: expected an SQL identifier (letters, digits, _), got ${JSON.stringify(c.postgresTable)}`,
    );
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(c.logLevel))
    fail(`KVRING_LOG_LEVEL: expected trace, debug, info, warn or error, got ${JSON.stringify(c.logLevel)}`);
  if (c.legacyUrl && !/^https?:\/\//.test(c.legacyUrl))
    fail(`KVRING_LEGACY_URL: expected an http:// or https:// URL, got ${JSON.stringify(c.legacyUrl)}`);
  if (c.legacyUrl && !c.legacyPathTemplate.includes('{key}'))
    fail(`KVRING_LEGACY_PATH_TEMPLATE: must contain {key}, got ${JSON.stringify(c.legacyPathTemplate)}`);
  if (!c.peers && !c.discoveryService)
    fail('membership: set KVRING_PEERS (static list) or KVRING_DISCOVERY_SERVICE (headless Service DNS)');
  if (Boolean(c.tlsCertFile) !== Boolean(c.tlsKeyFile))
    fail('KVRING_TLS_CERT_FILE and KVRING_TLS_KEY_FILE must be set together');
  checkPurgeHorizon(c);
  const peers = parsePeers(c.peers);
  if (c.peers && !peers.has(c.nodeName))
    fail(`KVRING_PEERS must list this node's own name ${JSON.stringify(c.nodeName)} (KVRING_NODE_NAME)`);
}

/** Parses `name=host:port,...`. */
export function parsePeers(text: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!text.trim()) return out;
  for (const part of text.split(',')) {
    const m = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)=([^\s:]+|\[[0-9a-fA-F:]+\]):(\d{1,5})\s*$/.exec(part);
    if (!m) throw new ConfigError(`KVRING_PEERS: expected name=host:port, got ${JSON.stringify(part)}`);
    if (out.has(m[1]!)) throw new ConfigError(`KVRING_PEERS: member ${m[1]} listed twice`);
    out.set(m[1]!, `${m[2]}:${m[3]}`);
  }
  return out;
}

/** The --help text, generated from the settings table. */
export function usage(): string {
  const lines = [
    'Usage: kvring-node [--flag value ...]',
    '',
    'Every flag also reads from its environment variable.',
    '',
  ];
  for (const s of SETTINGS)
    lines.push(
      `  ${flagName(s.env).padEnd(28)} ${s.env.padEnd(30)} ${s.help} (default: ${s.default || 'none'})`,
    );
  return lines.join('\n');
}
