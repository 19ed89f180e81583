// Settings of the demo legacy process: flags override LEGACY_* environment
// variables, which override the defaults. A bad value names the flag and the
// variable.
import { parseArgs } from 'node:util';
import { DEFAULT_SEED_KEYS } from './data.js';

export interface DemoLegacyArgs {
  host: string;
  port: number;
  keys: number;
  latencyMs: number;
  failureRate: number;
  token: string;
  help: boolean;
}

export const DEMO_LEGACY_USAGE = `usage: demo-legacy [options]
  --host HOST           address to bind (LEGACY_HOST, default 127.0.0.1)
  --port PORT           port, 0 for any free one (LEGACY_PORT, default 8090)
  --keys N              seed user:1..user:N and legacy:1..legacy:N (LEGACY_KEYS, default ${DEFAULT_SEED_KEYS})
  --latency-ms MS       delay before every data answer (LEGACY_LATENCY_MS, default 0)
  --failure-rate R      share of data requests answered 503, 0..1 (LEGACY_FAILURE_RATE, default 0)
  --token TOKEN         require Authorization: Bearer TOKEN (LEGACY_TOKEN, default none)
  --help                print this and exit
Both switches can be changed at runtime: POST /admin/config {"latencyMs","failureRate","hang"}.
`;

const FLAGS = {
  host: { env: 'LEGACY_HOST', def: '127.0.0.1' },
  port: { env: 'LEGACY_PORT', def: '8090' },
  keys: { env: 'LEGACY_KEYS', def: String(DEFAULT_SEED_KEYS) },
  'latency-ms': { env: 'LEGACY_LATENCY_MS', def: '0' },
  'failure-rate': { env: 'LEGACY_FAILURE_RATE', def: '0' },
  token: { env: 'LEGACY_TOKEN', def: '' },
} as const;

type Flag = keyof typeof FLAGS;

function numberOf(flag: Flag, raw: string, min: number, max: number, integer: boolean): number {
  const n = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new RangeError(
      `--${flag} (${FLAGS[flag].env}): expected ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got ${JSON.stringify(raw)}`,
    );
  }
  return n;
}

export function parseDemoLegacyArgs(argv: readonly string[], env: NodeJS.ProcessEnv): DemoLegacyArgs {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      keys: { type: 'string' },
      'latency-ms': { type: 'string' },
      'failure-rate': { type: 'string' },
      token: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
  const raw = (flag: Flag): string => values[flag] ?? env[FLAGS[flag].env] ?? FLAGS[flag].def;
  const host = raw('host');
  if (host === '') throw new RangeError('--host (LEGACY_HOST): expected an address');
  return {
    host,
    port: numberOf('port', raw('port'), 0, 65535, true),
    keys: numberOf('keys', raw('keys'), 0, Number.MAX_SAFE_INTEGER, true),
    latencyMs: numberOf('latency-ms', raw('latency-ms'), 0, 3_600_000, false),
    failureRate: numberOf('failure-rate', raw('failure-rate'), 0, 1, false),
    token: raw('token'),
    help: values.help ?? false,
  };
}
