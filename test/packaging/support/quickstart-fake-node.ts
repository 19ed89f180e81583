// A stand-in node whose every KVService call fails with one given status and
// rich error details (a google.rpc.Status holding a google.rpc.ErrorInfo in
// the grpc-status-details-bin trailer, as a node sends them), so the
// quickstart test can show how the programs tell failures apart by reason,
// including ones a healthy cluster never produces (QUORUM_UNAVAILABLE,
// WRITE_IN_DOUBT).
import { Metadata, Server, ServerCredentials, type ServerErrorResponse } from '@grpc/grpc-js';
import { KVServiceService } from '@kvring/client/proto';

export interface FailureWithReason {
  readonly code: number;
  readonly message: string;
  readonly reason: string;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface FakeNode {
  readonly address: string;
  stop(): Promise<void>;
}

export async function startFailingNode(failure: FailureWithReason): Promise<FakeNode> {
  const trailers = new Metadata();
  trailers.set('grpc-status-details-bin', statusWithErrorInfo(failure));
  const fail = (_call: unknown, callback: (err: ServerErrorResponse) => void): void =>
    callback({ name: 'FakeNodeError', code: failure.code, message: failure.message, metadata: trailers });
  const server = new Server();
  server.addService(
    KVServiceService,
    Object.fromEntries(Object.keys(KVServiceService).map((method) => [method, fail])),
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

// google.rpc.Status { int32 code = 1; string message = 2; repeated Any details = 3; }
// google.protobuf.Any { string type_url = 1; bytes value = 2; }
// google.rpc.ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
function statusWithErrorInfo(f: FailureWithReason): Buffer {
  const info = Buffer.concat([
    bytesField(1, f.reason),
    bytesField(2, 'kvring.dev'),
    ...Object.entries(f.metadata).map(([k, v]) =>
      bytesField(3, Buffer.concat([bytesField(1, k), bytesField(2, v)])),
    ),
  ]);
  const any = Buffer.concat([bytesField(1, 'type.googleapis.com/google.rpc.ErrorInfo'), bytesField(2, info)]);
  return Buffer.concat([varint(1 << 3), varint(f.code), bytesField(2, f.message), bytesField(3, any)]);
}

/** A length-delimited field (wire type 2). */
function bytesField(field: number, payload: string | Buffer): Buffer {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([varint((field << 3) | 2), varint(bytes.length), bytes]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  for (; n > 0x7f; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
  out.push(n);
  return Buffer.from(out);
}
