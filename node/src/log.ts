// JSON logs (pino). One root logger per process; modules take a child.
import { pino, type Logger } from 'pino';

export type { Logger };

/** `mixin` adds fields to every line (the active span's trace_id and span_id when tracing is on). */
export function createLogger(
  level: string,
  base: Record<string, string> = {},
  mixin?: () => Record<string, unknown>,
): Logger {
  return pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime, ...(mixin && { mixin }) });
}
