// The generated kvring.v1 messages and service definitions, for callers that
// want the wire types (and for test doubles of a node).
export * from './gen/kvring/v1/kvring.js';
