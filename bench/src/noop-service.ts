// A kvring.v1.KVService whose Get and Set answer at once (Get with a value of
// the benchmark's size), and its Pipeline frames too: the reference `make bench` compares a node with.
// What a client sees from it is the ceiling for a grpc-js node on this
// machine: the cost of the RPC itself, with no replication, PostgreSQL or
// storage behind it. noop-server.ts runs it as a process of its own.
import { Server, ServerCredentials, status, type sendUnaryData } from '@grpc/grpc-js';
import {
  KVServiceService,
  MemberState,
  Source,
  type ClusterInfoResponse,
  type GetResponse,
  type KVServiceServer,
  type PipelineRequest,
  type PipelineResult,
  type SetResponse,
} from '@kvring/client/proto';

export interface NoopServerOptions {
  readonly host: string;
  readonly port: number;
  readonly valueSize: number;
}

/** The same transport options as a node's client port, so only the work behind the RPC differs. */
const SERVER_OPTIONS = {
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
  'grpc.max_concurrent_streams': 1000,
  // channelz (grpc-js's per-call introspection registry) is not served here,
  // and its bookkeeping on every call cost ~2% of a node's CPU under
  // `make bench` (--profile); the reference server drops it too.
  'grpc.enable_channelz': 0,
};

export function noopService(valueSize: number, selfAddress: () => string): KVServiceServer {
  const value = Buffer.alloc(valueSize, 0x61);
  const getAnswer: GetResponse = { found: true, value, version: 1, source: Source.SOURCE_MEMORY };
  const setAnswer: SetResponse = { version: 1 };
  const unimplemented = (_call: unknown, cb: sendUnaryData<never>): void =>
    cb({ code: status.UNIMPLEMENTED, details: 'the no-op benchmark server answers Get and Set only' });
  return {
    get: (_call, cb) => cb(null, getAnswer),
    set: (_call, cb) => cb(null, setAnswer),
    delete: unimplemented,
    // Each frame answered at once, in one response frame.
    pipeline: (call) => {
      call.on('data', (frame: PipelineRequest) => {
        const results = frame.ops.map((op): PipelineResult => {
          const ok = { id: op.id, code: 0, reason: '', message: '', metadata: {} };
          if (op.get) return { ...ok, get: getAnswer };
          if (op.set) return { ...ok, set: setAnswer };
          return { ...ok, code: status.UNIMPLEMENTED, message: 'the no-op server answers get and set only' };
        });
        call.write({ results });
      });
      call.on('end', () => call.end());
    },
    mGet: unimplemented,
    mSet: unimplemented,
    // Answered so that a client can warm its connection the same way it does with a node.
    clusterInfo: (_call, cb) => {
      const info: ClusterInfoResponse = {
        self: 'noop',
        incarnation: '',
        members: [
          {
            name: 'noop',
            peerAddress: '',
            clientAddress: selfAddress(),
            state: MemberState.MEMBER_STATE_SELF,
            ownership: 1,
            incarnation: '',
          },
        ],
        replicationFactor: 1,
        readQuorum: 1,
        writeQuorum: 1,
        vnodes: 128,
        ringHash: '',
        postgresReachable: false,
        legacyApiReachable: false,
        hintsPending: 0,
        draining: false,
        warmup: undefined,
      };
      cb(null, info);
    },
  };
}

export async function startNoopServer(opts: NoopServerOptions): Promise<{ server: Server; address: string }> {
  const server = new Server(SERVER_OPTIONS);
  let address = `${opts.host}:${opts.port}`;
  server.addService(
    KVServiceService,
    noopService(opts.valueSize, () => address),
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${opts.host}:${opts.port}`, ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  address = `${opts.host}:${port}`;
  return { server, address };
}
