// Small helpers for the Postgres v3 wire protocol, just enough for the embedded server to frame
// client messages, follow the server's replies, and keep per-connection names apart.

export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;
/** Postgres refuses startup packets above this size (MAX_STARTUP_PACKET_LENGTH). */
const MAX_STARTUP_PACKET_LENGTH = 10000;
/** Postgres' own upper bound for one message (PQ_LARGE_MESSAGE_LIMIT is 1 GB - 1). */
const MAX_MESSAGE_LENGTH = 0x3fffffff;

export const MSG = {
  query: 0x51, // 'Q'
  parse: 0x50, // 'P'
  bind: 0x42, // 'B'
  describe: 0x44, // 'D'
  execute: 0x45, // 'E'
  close: 0x43, // 'C'
  sync: 0x53, // 'S'
  flush: 0x48, // 'H'
  terminate: 0x58, // 'X'
  copyFail: 0x66, // 'f'
  readyForQuery: 0x5a, // 'Z'
} as const;

export class ProtocolError extends Error {}

/** One complete client packet. `type` is 0 for the untyped packets of the startup phase. */
export interface FrontendPacket {
  type: number;
  buf: Buffer;
}

/**
 * Reassembles client packets from socket chunks. Keeps a list of chunks so a large message arriving
 * in many pieces is copied once, not once per piece.
 */
export class FrontendFramer {
  /** True until the StartupMessage has been read: packets then have no type byte. */
  startupPhase = true;
  private chunks: Buffer[] = [];
  private total = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** The next complete packet, or null when more bytes are needed. Throws ProtocolError on garbage. */
  next(): FrontendPacket | null {
    if (this.startupPhase) {
      if (this.total < 4) return null;
      const len = this.peek(4).readInt32BE(0);
      if (len < 8 || len > MAX_STARTUP_PACKET_LENGTH) throw new ProtocolError(`invalid startup packet length ${len}`);
      if (this.total < len) return null;
      return { type: 0, buf: this.take(len) };
    }
    if (this.total < 5) return null;
    const header = this.peek(5);
    const len = header.readInt32BE(1);
    if (len < 4 || len > MAX_MESSAGE_LENGTH) throw new ProtocolError(`invalid message length ${len} for message type ${JSON.stringify(String.fromCharCode(header[0]))}`);
    if (this.total < len + 1) return null;
    return { type: header[0], buf: this.take(len + 1) };
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0];
    if (first.length >= n) return first.subarray(0, n);
    return Buffer.concat(this.chunks, Math.min(this.total, n)).subarray(0, n);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.total -= n;
      return out;
    }
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const c = this.chunks[0];
      if (c.length <= need) {
        parts.push(c);
        this.chunks.shift();
        need -= c.length;
      } else {
        parts.push(c.subarray(0, need));
        this.chunks[0] = c.subarray(need);
        need = 0;
      }
    }
    this.total -= n;
    return Buffer.concat(parts, n);
  }
}

/**
 * Follows the message boundaries of the server's output stream (which PGlite hands over in
 * arbitrary pieces) and remembers the last message type and the last ReadyForQuery status.
 */
export class BackendScanner {
  lastType = 0;
  /** Status byte of the last ReadyForQuery: 'I' idle, 'T' in a transaction, 'E' failed transaction. */
  lastStatus = 0;
  private header = Buffer.alloc(5);
  private headerLen = 0;
  private bodyRemaining = 0;
  private bodyOffset = 0;

  /**
   * Called before each call into PGlite, whose output starts on a message boundary. The last
   * type/status are kept: a call that prints nothing (Flush, CopyData) leaves the session as it was.
   */
  reset(): void {
    this.headerLen = 0;
    this.bodyRemaining = 0;
    this.bodyOffset = 0;
  }

  /** True when the stream stopped right after a ReadyForQuery reporting an idle session. */
  get idleAtBoundary(): boolean {
    return this.lastType === MSG.readyForQuery && this.lastStatus === 0x49 /* I */ && this.headerLen === 0 && this.bodyRemaining === 0;
  }

  feed(data: Uint8Array): void {
    let i = 0;
    while (i < data.length) {
      if (this.bodyRemaining > 0) {
        if (this.lastType === MSG.readyForQuery && this.bodyOffset === 0) this.lastStatus = data[i];
        const n = Math.min(this.bodyRemaining, data.length - i);
        i += n;
        this.bodyOffset += n;
        this.bodyRemaining -= n;
        continue;
      }
      this.header[this.headerLen++] = data[i++];
      if (this.headerLen === 5) {
        this.lastType = this.header[0];
        this.bodyRemaining = this.header.readInt32BE(1) - 4;
        this.bodyOffset = 0;
        this.headerLen = 0;
      }
    }
  }
}

function cstring(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}

function message(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = type;
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

export const frontend = {
  sync: (): Buffer => message(MSG.sync, Buffer.alloc(0)),
  query: (sql: string): Buffer => message(MSG.query, cstring(sql)),
  copyFail: (reason: string): Buffer => message(MSG.copyFail, cstring(reason)),
  closeStatement: (name: string): Buffer => message(MSG.close, Buffer.concat([Buffer.from('S'), cstring(name)])),
};

/** A backend ErrorResponse, e.g. to refuse a connection the way Postgres does. */
export function errorResponse(severity: 'ERROR' | 'FATAL', code: string, text: string): Buffer {
  const field = (tag: string, value: string) => Buffer.concat([Buffer.from(tag), cstring(value)]);
  return message(0x45 /* E */, Buffer.concat([field('S', severity), field('V', severity), field('C', code), field('M', text), Buffer.from([0])]));
}

/** Reads a NUL-terminated string at `offset`; returns its bytes and the offset after the NUL. */
function readCString(buf: Buffer, offset: number): [Buffer, number] {
  const end = buf.indexOf(0, offset);
  if (end < 0) throw new ProtocolError('unterminated string in message');
  return [buf.subarray(offset, end), end + 1];
}

/**
 * Rewrites the statement and portal names of Parse/Bind/Describe/Execute/Close with a
 * per-connection prefix, so connections that share the one PGlite session cannot collide on (or
 * use) each other's named prepared statements. The unnamed statement and portal ("") are left
 * alone: the session lock keeps a connection's Parse..Sync together, which is all they need.
 * `onParse` / `onCloseStatement` report the client's own statement names.
 */
export function scopeNames(
  pkt: FrontendPacket,
  prefix: string,
  track: { onParse(name: string): void; onCloseStatement(name: string): void },
): Buffer {
  const { type, buf } = pkt;
  const scoped = (name: Buffer) => (name.length === 0 ? name : Buffer.concat([Buffer.from(prefix, 'utf8'), name]));
  let parts: Buffer[];
  switch (type) {
    case MSG.parse: {
      const [name, rest] = readCString(buf, 5);
      if (name.length === 0) return buf;
      track.onParse(name.toString('utf8'));
      parts = [scoped(name), Buffer.from([0]), buf.subarray(rest)];
      break;
    }
    case MSG.bind: {
      const [portal, afterPortal] = readCString(buf, 5);
      const [stmt, rest] = readCString(buf, afterPortal);
      if (portal.length === 0 && stmt.length === 0) return buf;
      parts = [scoped(portal), Buffer.from([0]), scoped(stmt), Buffer.from([0]), buf.subarray(rest)];
      break;
    }
    case MSG.execute: {
      const [portal, rest] = readCString(buf, 5);
      if (portal.length === 0) return buf;
      parts = [scoped(portal), Buffer.from([0]), buf.subarray(rest)];
      break;
    }
    case MSG.describe:
    case MSG.close: {
      if (buf.length < 7) throw new ProtocolError('truncated Describe/Close message');
      const kind = buf[5];
      const [name, rest] = readCString(buf, 6);
      if (name.length === 0) return buf;
      if (type === MSG.close && kind === 0x53 /* S */) track.onCloseStatement(name.toString('utf8'));
      parts = [Buffer.from([kind]), scoped(name), Buffer.from([0]), buf.subarray(rest)];
      break;
    }
    default:
      return buf;
  }
  return message(type, Buffer.concat(parts));
}
