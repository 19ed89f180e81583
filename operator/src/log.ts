// JSON logs (pino), one root logger per process; modules take a child.
import { pino, type Logger } from 'pino';
import { traceLogFields } from './tracing/spans.js';

export type { Logger };

export function createLogger(level: string, base: Record<string, string> = {}): Logger {
  return pino({
    level,
    base: { component: 'kvring-operator', ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    // trace_id/span_id inside a traced reconcile; nothing when tracing is off.
    mixin: traceLogFields,
  });
}

/** A logger that drops everything (tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
