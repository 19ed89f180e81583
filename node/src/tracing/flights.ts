// Tracing of coalesced calls (util/singleflight.ts): every caller gets a span
// of its own, and each of those spans links to the one span that did the
// work (the legacy API call), so a herd of misses shows as many waiters
// pointing at one HTTP request. The worker's span finds where to report
// itself through a slot in the context its flight runs in.
import { context, createContextKey, type Attributes, type Span, type SpanContext } from '@opentelemetry/api';
import type { SingleFlight } from '../util/singleflight.js';
import { endWith, inChildSpan, inSpanUnder, recordingSpan, type SpanKind } from './tracer.js';

const SLOT = createContextKey('kvring.flight-slot');

interface Slot {
  span?: SpanContext;
}

/** Called by the span that does a flight's work: the flight's waiters link to it. */
export function noteFlightSpan(span: Span): void {
  const slot = context.active().getValue(SLOT) as Slot | undefined;
  if (slot !== undefined && slot.span === undefined) slot.span = span.spanContext();
}

/**
 * `flights.do(key, fn)` with a span per caller (`name`, attribute
 * kvring.coalesced: whether it joined a flight already running) linked to the
 * span that noted itself in the flight (noteFlightSpan). Without a recording
 * span it is `flights.do` itself.
 */
export function doLinked<V>(
  flights: SingleFlight<string, V>,
  slots: FlightSlots,
  name: string,
  key: string,
  fn: (key: string) => Promise<V>,
): Promise<V> {
  if (recordingSpan() === undefined) return flights.do(key, fn);
  const joined = flights.inFlight(key);
  return inChildSpan(name, { 'kvring.coalesced': joined }, () => {
    const span = recordingSpan()!;
    const p = flights.do(key, (k) => {
      const slot: Slot = {};
      slots.set(k, slot);
      const run = context.with(context.active().setValue(SLOT, slot), () => fn(k));
      return run.finally(() => slots.delete(k));
    });
    const slot = slots.get(key);
    // The link is known once the work started; add it when the flight settles.
    const link = (): void => {
      if (slot?.span !== undefined) span.addLink({ context: slot.span });
    };
    return p.then(
      (v) => {
        link();
        return v;
      },
      (err: unknown) => {
        link();
        throw err;
      },
    );
  });
}

export type FlightSlots = Map<string, Slot>;

/**
 * Runs `fn` in a child span of the active recording span (nothing without
 * one) and notes it as the work of the flight it runs in.
 */
export function inWorkSpan<T>(
  name: string,
  kind: SpanKind,
  attributes: Attributes,
  fn: () => Promise<T>,
): Promise<T> {
  if (recordingSpan() === undefined) return fn();
  return inSpanUnder(context.active(), name, { kind, attributes }, (span) => {
    noteFlightSpan(span);
    return endWith(span, fn());
  });
}
