// The peer protocol version in the Hello, against a scripted peer on
// loopback that answers as a release of a given version would: an older
// release (no version told), a newer one, and one older than this build
// accepts. The real old release in a cluster: mixed-versions.test.ts.
import { afterEach, expect, it } from '@jest/globals';
import {
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type sendUnaryData,
} from '@grpc/grpc-js';
import {
  PeerServiceService,
  PeerStatus,
  WriteCause,
  type DigestRequest,
  type DigestResponse,
  type Hello,
  type PeerRequestFrame,
  type PeerResponseFrame,
} from '../../src/gen/kvring/v1/peer.js';
import { PeerConnection } from '../../src/peer/connection.js';
import { PEER_PROTOCOL_VERSION } from '../../src/peer/protocol.js';
import { testLogger } from '../support/postgres.js';

interface ScriptedPeer {
  readonly address: string;
  /** The Hello of the connection's first frame. */
  readonly told: Promise<Hello | undefined>;
  stop(): void;
}

const open: Array<{ stop(): void }> = [];
afterEach(() => {
  for (const o of open.splice(0)) o.stop();
});

/** A peer whose Hello tells `version` (0: the field absent, as from a release before it) and that answers every op OK. */
async function scriptedPeer(version: number): Promise<ScriptedPeer> {
  const server = new Server();
  let tell: (h: Hello | undefined) => void = () => undefined;
  const told = new Promise<Hello | undefined>((r) => (tell = r));
  server.addService(PeerServiceService, {
    exchange(call: ServerDuplexStream<PeerRequestFrame, PeerResponseFrame>) {
      call.write({
        hello: {
          member: 'peer',
          incarnation: 'inc-1',
          view: '',
          handedOff: false,
          leaving: false,
          address: '',
          protocolVersion: version,
        },
        results: [],
      });
      call.on('data', (f: PeerRequestFrame) => {
        if (f.hello) tell(f.hello);
        call.write({
          hello: undefined,
          results: f.ops.map((o) => ({
            id: o.id,
            status: PeerStatus.PEER_STATUS_OK,
            found: false,
            value: Buffer.alloc(0),
            version: 0,
            tombstone: false,
            ttlMs: 0,
            applied: true,
            message: '',
            code: 0,
            fromLegacy: false,
            unverified: false,
          })),
        });
      });
      call.on('end', () => call.end());
    },
    digest(_call: ServerUnaryCall<DigestRequest, DigestResponse>, cb: sendUnaryData<DigestResponse>) {
      cb(null, { member: 'peer', incarnation: 'inc-1', entries: [] });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  const peer = { address: `127.0.0.1:${port}`, told, stop: () => server.forceShutdown() };
  open.push(peer);
  return peer;
}

function connect(address: string, minProtocolVersion?: number): PeerConnection {
  const conn = new PeerConnection('peer', address, {
    selfName: 'self',
    selfIncarnation: 'self-1',
    peerTimeoutMs: 2_000,
    failureTimeoutMs: 5_000,
    slowOpTimeoutMs: 2_000,
    log: testLogger(),
    ...(minProtocolVersion !== undefined ? { minProtocolVersion } : {}),
  });
  open.push({ stop: () => conn.close() });
  return conn;
}

/** One op answered: the peer's Hello came before its answer, so the connection has judged it. */
async function exchanged(conn: PeerConnection): Promise<void> {
  await conn.write(
    { key: 'k', value: Buffer.from('v'), version: 1, tombstone: false, ttlMs: 0 },
    'inc-1',
    WriteCause.WRITE_CAUSE_WRITE,
  );
}

it('tells its own protocol version in the Hello of every stream', async () => {
  const peer = await scriptedPeer(PEER_PROTOCOL_VERSION);
  const conn = connect(peer.address);
  await exchanged(conn);
  expect((await peer.told)?.protocolVersion).toBe(PEER_PROTOCOL_VERSION);
  expect(PEER_PROTOCOL_VERSION).toBeGreaterThan(0);
});

it('works with a peer of a release that tells no version (0): up, and features after 0 are off', async () => {
  const peer = await scriptedPeer(0);
  const conn = connect(peer.address);
  await exchanged(conn);
  expect(conn.protocolVersion).toBe(0);
  expect(conn.compatible).toBe(true);
  expect(conn.up).toBe(true);
  expect(conn.supports('protocolVersion')).toBe(false);
});

it('works with a peer of a newer protocol: up, with every feature this build knows', async () => {
  const peer = await scriptedPeer(PEER_PROTOCOL_VERSION + 5);
  const conn = connect(peer.address);
  await exchanged(conn);
  expect(conn.protocolVersion).toBe(PEER_PROTOCOL_VERSION + 5);
  expect(conn.up).toBe(true);
  expect(conn.supports('protocolVersion')).toBe(true);
});

it('keeps a peer older than the accepted minimum down, though it answers', async () => {
  const peer = await scriptedPeer(1);
  const conn = connect(peer.address, 2);
  await exchanged(conn);
  expect(conn.protocolVersion).toBe(1);
  expect(conn.compatible).toBe(false);
  expect(conn.up).toBe(false);
});
