// The operator's side of AdminService. Nodes serve it on their peer port
// only (mutual TLS when TLS is on), so this client is separate from
// KvClient: it dials the address it is given, with credentials that carry
// a certificate the cluster CA signed, and never sends a call to another
// node or sends it twice (a drain names the node it drains).
import { credentials as grpcCredentials, Metadata, type ChannelCredentials } from '@grpc/grpc-js';
import { connected } from './connect.js';
import { fromServiceError } from './errors.js';
import { AdminServiceClient, type DrainResponse } from './gen/kvring/v1/kvring.js';

export interface AdminClientOptions {
  /** Peer-port credentials: with TLS on, createSsl(ca, key, certChain) with a CA-signed pair. */
  readonly credentials?: ChannelCredentials;
  /** Per-call deadline in ms (default 10 minutes: a drain streams every key). */
  readonly timeoutMs?: number;
  /** Extra gRPC channel options, e.g. `grpc.ssl_target_name_override` through a port-forward. */
  readonly channelOptions?: Readonly<Record<string, string | number>>;
}

export class AdminClient {
  private readonly clients = new Map<string, AdminServiceClient>();
  private readonly creds: ChannelCredentials;

  constructor(private readonly opts: AdminClientOptions = {}) {
    this.creds = opts.credentials ?? grpcCredentials.createInsecure();
  }

  /** Asks the node whose peer port is `address` to hand its keys to the members that remain without `leaving`. */
  async drain(address: string, leaving: readonly string[]): Promise<DrainResponse> {
    const client = this.client(address);
    const deadline = Date.now() + (this.opts.timeoutMs ?? 10 * 60_000);
    await connected(client, address, deadline);
    return new Promise((resolve, reject) =>
      client.drain({ leaving: [...leaving] }, new Metadata(), { deadline }, (err, res) => {
        if (err) reject(fromServiceError(err, address));
        else resolve(res);
      }),
    );
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private client(address: string): AdminServiceClient {
    let c = this.clients.get(address);
    if (c === undefined)
      this.clients.set(
        address,
        (c = new AdminServiceClient(address, this.creds, { ...this.opts.channelOptions })),
      );
    return c;
  }
}
