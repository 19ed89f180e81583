// The demo legacy API logs JSON lines like the node does (pino), so the same
// tools read both; it keeps its own tiny factory rather than reaching into
// the node's sources.
import { pino, type Logger } from 'pino';

export function createLogger(level: string, base: Record<string, string>): Logger {
  return pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime });
}
