// A stand-in for a kvring node pod in tests that have an API server but no
// kubelet: a real gRPC server on a loopback address of its own (the "pod
// IP"), answering ClusterInfo with a view the test controls on the client
// port and recording Drain calls on the peer port (the only port a node
// serves AdminService on), which the test can hold open to observe the
// operator wait.
import { Server, ServerCredentials, status, type sendUnaryData } from '@grpc/grpc-js';
import {
  AdminServiceService,
  KVServiceService,
  MemberState,
  type ClusterInfoResponse,
  type DrainResponse,
} from '@kvring/client/proto';

export interface FakeView {
  members: string[];
  ringHash: string;
  postgresReachable: boolean;
  legacyApiReachable: boolean;
}

function unimplemented(_call: unknown, cb: sendUnaryData<never>): void {
  cb({ code: status.UNIMPLEMENTED, details: 'fake node' }, null);
}

export class FakeNode {
  readonly drainCalls: string[][] = [];
  private release: (() => void) | undefined;
  private holdDrains = false;

  private constructor(
    private readonly servers: readonly Server[],
    readonly name: string,
    readonly address: string,
    public view: FakeView,
  ) {}

  static async start(
    host: string,
    port: number,
    name: string,
    view: FakeView,
    peerPort = 50052,
  ): Promise<FakeNode> {
    const server = new Server();
    const peer = new Server();
    const address = `${host}:${port}`;
    const node = new FakeNode([server, peer], name, address, view);
    server.addService(KVServiceService, {
      get: unimplemented,
      set: unimplemented,
      delete: unimplemented,
      mGet: unimplemented,
      mSet: unimplemented,
      clusterInfo: (_call: unknown, cb: sendUnaryData<ClusterInfoResponse>) => cb(null, node.info()),
    });
    peer.addService(AdminServiceService, {
      drain: (call: { request: { leaving: string[] } }, cb: sendUnaryData<DrainResponse>) => {
        node.drainCalls.push([...call.request.leaving]);
        const answer = (): void => cb(null, { keysStreamed: 42, keysFailed: 0 });
        if (node.holdDrains) node.release = answer;
        else answer();
      },
    });
    const bind = (srv: Server, at: string): Promise<void> =>
      new Promise<void>((resolve, reject) =>
        srv.bindAsync(at, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
      );
    await bind(server, address);
    await bind(peer, `${host}:${peerPort}`);
    return node;
  }

  /** Drains wait for releaseDrain() from now on. */
  holdDrain(): void {
    this.holdDrains = true;
  }

  releaseDrain(): void {
    this.holdDrains = false;
    this.release?.();
    this.release = undefined;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.servers.map((srv) => new Promise<void>((resolve) => srv.tryShutdown(() => resolve()))),
    );
  }

  private info(): ClusterInfoResponse {
    return {
      self: this.name,
      incarnation: 'test',
      members: this.view.members.map((m) => ({
        name: m,
        peerAddress: '',
        clientAddress: '',
        state: m === this.name ? MemberState.MEMBER_STATE_SELF : MemberState.MEMBER_STATE_UP,
        ownership: 1 / this.view.members.length,
        incarnation: 'test',
      })),
      replicationFactor: 3,
      readQuorum: 2,
      writeQuorum: 2,
      vnodes: 128,
      ringHash: this.view.ringHash,
      postgresReachable: this.view.postgresReachable,
      legacyApiReachable: this.view.legacyApiReachable,
      hintsPending: 0,
      draining: false,
      warmup: undefined,
    };
  }
}
