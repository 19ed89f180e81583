// A node start's identity: a new incarnation every time the process starts
// (its memory is empty again). The leading part is the start time in base
// 36, so incarnations of one member order by when they started: an
// announcement (peer Hello) from an older incarnation never overrides one
// from a newer (membership.ts).
import { randomBytes } from 'node:crypto';

export function newIncarnation(nowMs: number = Date.now()): string {
  return `${nowMs.toString(36)}-${randomBytes(6).toString('hex')}`;
}

/** Negative when `a` started before `b`, positive after, 0 when neither can be told apart. */
export function compareIncarnations(a: string, b: string): number {
  return startOf(a) - startOf(b);
}

function startOf(incarnation: string): number {
  const ms = parseInt(incarnation.split('-')[0] ?? '', 36);
  return Number.isFinite(ms) ? ms : 0;
}
