// How the operator talks to its cache nodes: ClusterInfo (ring, health of
// their dependencies) on the client port, as applications do, and Drain
// (hand keys over before leaving) on the peer port, the only port that
// serves it: there, with TLS on, the operator presents the nodes' own
// certificate (mutual TLS), so no holder of the client token can drain a
// node. One module, so the transport can change without touching the
// reconciler. It uses the client package (@kvring/client).
import { credentials as grpcCredentials } from '@grpc/grpc-js';
import { AdminClient, KvClient, MemberState } from '@kvring/client';
import type { NodeInfo } from './reconcile/node-report.js';

export interface NodeConnection {
  /** The node's own view; rejects when it does not answer within the deadline. */
  clusterInfo(address: string): Promise<NodeInfo>;
  /** Asks the node (`address`: its peer port) to stream its keys to the owners that remain once `leaving` are gone. */
  drain(address: string, leaving: readonly string[]): Promise<{ keysStreamed: number; keysFailed: number }>;
  close(): void;
}

export interface NodeSecurity {
  /** Bearer token the nodes require on the client port (spec.auth). */
  token?: string;
  /**
   * PEM CA to verify the nodes' certificates (spec.tls), and the pair the
   * operator presents on the peer port; undefined = plaintext.
   */
  tls?: { caPem?: string; peerPair?: { certPem: string; keyPem: string } };
}

export interface NodeConnector {
  /** A connection for one cluster; cached until its security settings change. */
  forCluster(clusterKey: string, security: NodeSecurity): NodeConnection;
  forget(clusterKey: string): void;
  closeAll(): void;
}

class GrpcNodeConnection implements NodeConnection {
  private readonly client: KvClient;
  private readonly admin: AdminClient;

  constructor(security: NodeSecurity, probeTimeoutMs: number) {
    const tls = security.tls;
    const ca = tls?.caPem ? Buffer.from(tls.caPem) : null;
    const creds = tls ? grpcCredentials.createSsl(ca) : grpcCredentials.createInsecure();
    const pair = tls?.peerPair;
    this.admin = new AdminClient({
      credentials: !tls
        ? grpcCredentials.createInsecure()
        : pair
          ? grpcCredentials.createSsl(ca, Buffer.from(pair.keyPem), Buffer.from(pair.certPem))
          : creds,
    });
    // The seed address is never dialled: every call names its node. A
    // literal loopback address, not a DNS name: the client resolves names
    // in the background, and this one must cause no DNS traffic at all.
    this.client = new KvClient(['127.0.0.1:1'], {
      timeoutMs: probeTimeoutMs,
      credentials: creds,
      ...(security.token && { token: security.token }),
    });
  }

  async clusterInfo(address: string): Promise<NodeInfo> {
    const r = await this.client.clusterInfo(address);
    return {
      ringHash: r.ringHash,
      members: r.members.map((m) => m.name),
      ownersDown: r.members
        .filter((m) => m.ownership > 0 && m.state === MemberState.MEMBER_STATE_DOWN)
        .map((m) => m.name),
      postgresReachable: r.postgresReachable,
      legacyApiReachable: r.legacyApiReachable,
      draining: r.draining,
      hintsPending: r.hintsPending,
      incarnation: r.incarnation,
      ...(r.warmup && {
        warmup: {
          keys: r.warmup.keys,
          bytes: r.warmup.bytes,
          durationMs: r.warmup.durationMs,
          source: r.warmup.source,
          stopped: r.warmup.stopped,
        },
      }),
    };
  }

  async drain(
    address: string,
    leaving: readonly string[],
  ): Promise<{ keysStreamed: number; keysFailed: number }> {
    const r = await this.admin.drain(address, leaving);
    return { keysStreamed: r.keysStreamed, keysFailed: r.keysFailed };
  }

  close(): void {
    this.client.close();
    this.admin.close();
  }
}

export class GrpcNodeConnector implements NodeConnector {
  private readonly conns = new Map<string, { fingerprint: string; conn: NodeConnection }>();

  constructor(private readonly probeTimeoutMs = 3_000) {}

  forCluster(clusterKey: string, security: NodeSecurity): NodeConnection {
    const fingerprint = JSON.stringify(security);
    const cached = this.conns.get(clusterKey);
    if (cached && cached.fingerprint === fingerprint) return cached.conn;
    cached?.conn.close();
    const conn = new GrpcNodeConnection(security, this.probeTimeoutMs);
    this.conns.set(clusterKey, { fingerprint, conn });
    return conn;
  }

  forget(clusterKey: string): void {
    this.conns.get(clusterKey)?.conn.close();
    this.conns.delete(clusterKey);
  }

  closeAll(): void {
    for (const { conn } of this.conns.values()) conn.close();
    this.conns.clear();
  }
}
