// A tiny authoritative DNS server for tests: UDP on 127.0.0.1, a free port,
// answering SRV and A queries from a table the test changes while it runs;
// a name it does not know gets NXDOMAIN, a known name asked for a type it
// lacks gets an empty answer (NODATA), as a real server would. The DNS wire
// format (RFC 1035, SRV from RFC 2782) is encoded and decoded here, only as
// far as these two record types need.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

export const TYPE_A = 1;
export const TYPE_SRV = 33;
const CLASS_IN = 1;
const RCODE_NXDOMAIN = 3;
export const RCODE_SERVFAIL = 2;
const RCODE_FORMERR = 1;
const RCODE_NOTIMP = 4;

export interface SrvRecord {
  /** Target host name (no trailing dot needed). */
  readonly target: string;
  readonly port: number;
  readonly priority?: number;
  readonly weight?: number;
}

export interface DnsQuestion {
  readonly id: number;
  /** Recursion desired bit, echoed in the answer. */
  readonly rd: boolean;
  readonly opcode: number;
  readonly name: string;
  readonly type: number;
  readonly qclass: number;
  /** The raw question section, echoed in the answer. */
  readonly questionBytes: Buffer;
}

/** One answer record: the name is always the question's (a pointer to it). */
interface AnswerRecord {
  readonly type: number;
  readonly ttl: number;
  readonly rdata: Buffer;
}

/** Lower case, no trailing dot: the table's key form. */
function canonical(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** A domain name as length-prefixed labels ending with the root (no compression). */
export function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of canonical(name).split('.')) {
    if (label === '') continue;
    const bytes = Buffer.from(label, 'ascii');
    if (bytes.length > 63) throw new Error(`DNS label longer than 63 bytes: ${label}`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/**
 * Reads a name at `offset`, following compression pointers (queries do not
 * use them, but a decoder that meets one must not loop). Returns the name and
 * the offset just past it in the original position.
 */
export function decodeName(msg: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  for (let hops = 0; hops < 128; hops++) {
    if (pos >= msg.length) throw new Error('DNS name runs past the message');
    const len = msg[pos]!;
    if (len === 0) {
      return { name: labels.join('.'), next: next >= 0 ? next : pos + 1 };
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= msg.length) throw new Error('DNS name pointer runs past the message');
      if (next < 0) next = pos + 2;
      pos = ((len & 0x3f) << 8) | msg[pos + 1]!;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new Error('DNS label with reserved length bits');
    if (pos + 1 + len > msg.length) throw new Error('DNS label runs past the message');
    labels.push(msg.toString('ascii', pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  throw new Error('DNS name with too many labels or a pointer loop');
}

/** The header and first question of a query; throws on a malformed one. */
export function decodeQuery(msg: Buffer): DnsQuestion {
  if (msg.length < 12) throw new Error('DNS message shorter than its header');
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000) throw new Error('not a query (QR bit set)');
  const qdcount = msg.readUInt16BE(4);
  if (qdcount !== 1) throw new Error(`expected one question, got ${qdcount}`);
  const { name, next } = decodeName(msg, 12);
  if (next + 4 > msg.length) throw new Error('DNS question runs past the message');
  return {
    id,
    rd: (flags & 0x0100) !== 0,
    opcode: (flags >> 11) & 0x0f,
    name,
    type: msg.readUInt16BE(next),
    qclass: msg.readUInt16BE(next + 2),
    questionBytes: msg.subarray(12, next + 4),
  };
}

function srvData(r: SrvRecord): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt16BE(r.priority ?? 0, 0);
  head.writeUInt16BE(r.weight ?? 10, 2);
  head.writeUInt16BE(r.port, 4);
  return Buffer.concat([head, encodeName(r.target)]);
}

function aData(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255))
    throw new Error(`not an IPv4 address: ${ip}`);
  return Buffer.from(parts);
}

/** A response to `q`: header, the echoed question, then the answers (names point at the question). */
export function encodeResponse(
  q: { readonly id: number; readonly rd: boolean; readonly opcode: number; readonly questionBytes?: Buffer },
  rcode: number,
  answers: readonly AnswerRecord[] = [],
): Buffer {
  const question = q.questionBytes ?? Buffer.alloc(0);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  // QR=1, the query's opcode, AA=1, RD echoed, RA=1 (we answer everything we know ourselves).
  const flags = 0x8000 | (q.opcode << 11) | 0x0400 | (q.rd ? 0x0100 : 0) | 0x0080 | (rcode & 0x0f);
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(question.length > 0 ? 1 : 0, 4);
  header.writeUInt16BE(answers.length, 6);
  const parts: Buffer[] = [header, question];
  for (const a of answers) {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the question's name, at offset 12
    rr.writeUInt16BE(a.type, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(a.ttl, 6);
    rr.writeUInt16BE(a.rdata.length, 10);
    parts.push(rr, a.rdata);
  }
  return Buffer.concat(parts);
}

/** What the server was asked, for tests that check the client's queries. */
export interface QueryLogEntry {
  readonly name: string;
  readonly type: number;
}

export class TestDnsServer {
  private readonly srv = new Map<string, SrvRecord[]>();
  private readonly a = new Map<string, string[]>();
  /** Names answered with SERVFAIL whatever their records: a DNS server in trouble. */
  private readonly failing = new Set<string>();
  private readonly log: QueryLogEntry[] = [];
  /** TTL of every answer: 0, so no resolver caches what the test is about to change. */
  ttl = 0;

  private constructor(
    private readonly socket: Socket,
    readonly port: number,
  ) {}

  /** Binds a UDP socket on 127.0.0.1 at a free port. */
  static async start(): Promise<TestDnsServer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const server = new TestDnsServer(socket, socket.address().port);
    socket.on('message', (msg, from) => server.onMessage(msg, from));
    // A send to a client that went away must not crash the test process.
    socket.on('error', () => undefined);
    return server;
  }

  /** host:port, as KVRING_DNS_SERVER and Resolver.setServers take it. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Replaces the SRV records of `name` (an empty list removes them). */
  setSrv(name: string, records: readonly SrvRecord[]): void {
    if (records.length === 0) this.srv.delete(canonical(name));
    else this.srv.set(canonical(name), [...records]);
  }

  /** Replaces the A records of `name` (an empty list removes them). */
  setA(name: string, ips: readonly string[]): void {
    for (const ip of ips) aData(ip); // fail here, not when a query arrives
    if (ips.length === 0) this.a.delete(canonical(name));
    else this.a.set(canonical(name), [...ips]);
  }

  /** Answers every query for `name` with SERVFAIL (a transient failure) until `on` is false. */
  setFailing(name: string, on = true): void {
    if (on) this.failing.add(canonical(name));
    else this.failing.delete(canonical(name));
  }

  /** Removes every record of `name`: it answers NXDOMAIN again. */
  remove(name: string): void {
    this.srv.delete(canonical(name));
    this.a.delete(canonical(name));
  }

  clear(): void {
    this.srv.clear();
    this.a.clear();
    this.failing.clear();
  }

  /** Queries received since the last call. */
  takeQueries(): QueryLogEntry[] {
    return this.log.splice(0, this.log.length);
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  /** The answer to one query (exposed so the codec can be tested without a socket). */
  answer(msg: Buffer): Buffer | undefined {
    let q: DnsQuestion;
    try {
      q = decodeQuery(msg);
    } catch {
      // Too broken to parse: answer FORMERR if there is at least an id to echo.
      if (msg.length < 2) return undefined;
      return encodeResponse({ id: msg.readUInt16BE(0), rd: false, opcode: 0 }, RCODE_FORMERR);
    }
    this.log.push({ name: canonical(q.name), type: q.type });
    if (q.opcode !== 0 || q.qclass !== CLASS_IN) return encodeResponse(q, RCODE_NOTIMP);
    const key = canonical(q.name);
    if (this.failing.has(key)) return encodeResponse(q, RCODE_SERVFAIL);
    const srv = this.srv.get(key);
    const a = this.a.get(key);
    if (srv === undefined && a === undefined) return encodeResponse(q, RCODE_NXDOMAIN);
    const answers: AnswerRecord[] = [];
    if (q.type === TYPE_SRV && srv !== undefined)
      for (const r of srv) answers.push({ type: TYPE_SRV, ttl: this.ttl, rdata: srvData(r) });
    if (q.type === TYPE_A && a !== undefined)
      for (const ip of a) answers.push({ type: TYPE_A, ttl: this.ttl, rdata: aData(ip) });
    return encodeResponse(q, 0, answers);
  }

  private onMessage(msg: Buffer, from: RemoteInfo): void {
    const out = this.answer(msg);
    if (out !== undefined) this.socket.send(out, from.port, from.address);
  }
}
