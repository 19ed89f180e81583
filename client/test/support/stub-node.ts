// A grpc-js server in this process standing in for a node: it answers
// every call with a chosen status and ErrorInfo (or success), can hold
// calls unanswered, serves a chosen ClusterInfo, and counts what it saw
// (per method and per key) so tests can tell where the client sent what.
import { Metadata, Server, ServerCredentials, status, type sendUnaryData } from '@grpc/grpc-js';
import { ErrorInfo } from '../../src/gen/google/rpc/error_details.js';
import { Status } from '../../src/gen/google/rpc/status.js';
import { ClusterInfoResponse, KVServiceService } from '../../src/gen/kvring/v1/kvring.js';

export interface Answer {
  code: status;
  reason?: string;
  metadata?: Record<string, string>;
}

export class StubNode {
  readonly calls = new Map<string, number>();
  /** Keys of the Get/Set/Delete calls seen, in order. */
  readonly keys: string[] = [];
  answer: Answer | undefined;
  /** What ClusterInfo answers (an empty view by default: no ring). */
  info: ClusterInfoResponse = ClusterInfoResponse.fromPartial({});
  /** While set, Set calls are held unanswered (a node that dies mid-write). */
  holdWrites = false;
  /** Resolves when a held Set call has arrived. */
  heldWrite: Promise<void> = new Promise(() => undefined);
  address = '';
  private server = new Server();
  private arrived: () => void = () => undefined;

  constructor() {
    this.resetHeld();
  }

  /** Listens on host:port (port 0: any free one). */
  async start(host = '127.0.0.1', port = 0): Promise<void> {
    this.server = new Server();
    this.server.addService(KVServiceService, {
      get: this.handler('get', { found: true, value: Buffer.from('v'), version: 1, source: 1 }),
      set: this.handler('set', { version: 7 }),
      delete: this.handler('delete', { version: 8 }),
      mGet: this.handler('mGet', { items: [] }),
      mSet: this.handler('mSet', { results: [] }),
      clusterInfo: this.handler('clusterInfo', undefined),
    });
    const bound = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    this.address = `${host}:${bound}`;
  }

  seen(method: string): number {
    return this.calls.get(method) ?? 0;
  }

  clear(): void {
    this.calls.clear();
    this.keys.length = 0;
    this.answer = undefined;
    this.info = ClusterInfoResponse.fromPartial({});
    this.holdWrites = false;
    this.resetHeld();
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.tryShutdown(() => resolve()));
  }

  /** Stops at once, breaking open calls and connections (a killed pod). */
  kill(): void {
    this.server.forceShutdown();
  }

  private resetHeld(): void {
    this.heldWrite = new Promise((resolve) => (this.arrived = resolve));
  }

  private handler(method: string, ok: unknown) {
    return (call: { request: { key?: string } }, cb: sendUnaryData<unknown>): void => {
      this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
      if (typeof call.request.key === 'string') this.keys.push(call.request.key);
      if (method === 'set' && this.holdWrites) return this.arrived();
      const a = this.answer;
      if (a === undefined) return cb(null, ok ?? this.info);
      cb({ code: a.code, details: `stub: ${a.reason ?? status[a.code]}`, metadata: trailer(a) }, null);
    };
  }
}

function trailer(a: Answer): Metadata {
  const md = new Metadata();
  if (a.reason === undefined) return md;
  const info = ErrorInfo.encode({ reason: a.reason, domain: 'kvring.dev', metadata: a.metadata ?? {} });
  const st = Status.encode({
    code: a.code,
    message: a.reason,
    details: [{ typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo', value: Buffer.from(info.finish()) }],
  });
  md.set('grpc-status-details-bin', Buffer.from(st.finish()));
  return md;
}
