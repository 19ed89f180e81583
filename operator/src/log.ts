// JSON logs (pino), one root logger per process; modules take a child.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, base: Record<string, string> = {}): Logger {
  return pino({
    level,
    base: { component: 'kvring-operator', ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** A logger that drops everything (tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
