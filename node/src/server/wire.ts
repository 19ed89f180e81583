// Shapes shared by the unary calls and the Pipeline stream, so that an
// operation answers the same whichever way it came.
import { Source as WireSource, type GetResponse } from '../gen/kvring/v1/kvring.js';
import type { GetResult, Source } from '../cluster/coordinator.js';

const SOURCES: Record<Source, WireSource> = {
  memory: WireSource.SOURCE_MEMORY,
  postgres: WireSource.SOURCE_POSTGRES,
  legacy: WireSource.SOURCE_LEGACY,
  miss: WireSource.SOURCE_UNSPECIFIED,
};

export function getResponseOf(r: GetResult): GetResponse {
  return { found: r.found, value: r.value, version: r.version, source: SOURCES[r.source] };
}
