import { createHash, timingSafeEqual } from 'crypto';
import * as net from 'net';
import type { PGlite } from '@electric-sql/pglite';
import {
  BackendScanner,
  CANCEL_REQUEST_CODE,
  FrontendFramer,
  GSSENC_REQUEST_CODE,
  MSG,
  ProtocolError,
  SSL_REQUEST_CODE,
  errorResponse,
  frontend,
  scopeNames,
} from './wire';

// A Postgres wire-protocol server in front of ONE PGlite instance (one Postgres session).
//
// Why not PGLiteSocketServer from @electric-sql/pglite-socket 0.2.17: it defaults to a single
// connection (a pg pool then gets "Too many connections"), and with maxConnections > 1 it queues
// individual protocol messages, keeping a connection in charge only while an explicit transaction
// block is open. An extended-query cycle (Parse/Bind/Describe/Execute/Sync) is not a transaction
// block, so when a client's cycle arrives in more than one TCP chunk (any large parameter) another
// connection's Parse lands in the middle and the first client's Bind runs the other client's
// statement ("bind message supplies 1 parameters, but prepared statement "" requires 2" in a test
// here; with matching parameter counts it silently runs the wrong SQL).
//
// Here the unit of scheduling is the protocol cycle. A connection takes the session lock for its
// next message and keeps it until PGlite answers ReadyForQuery with status 'I' (idle): so an open
// transaction ('T'), a failed one ('E'), an unfinished Parse..Sync or a COPY all keep the session.
// Other connections' messages wait in FIFO order. Named prepared statements and portals are
// prefixed per connection; a connection that goes away has its transaction rolled back and its
// statements closed before the next connection runs.

export interface WireServerLogger {
  log(msg: string): void;
  warn(msg: string): void;
}

export interface PgliteWireServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  logger: WireServerLogger;
  /** Further connections are refused with 53300. Default 100. */
  maxConnections?: number;
  /** Warn when a connection sits idle inside a transaction this long while others wait. Default 5 s. */
  idleInTransactionWarnMs?: number;
  /** Close such a connection (25P03, its transaction rolled back) after this long. 0 = never. Default 60 s. */
  idleInTransactionTimeoutMs?: number;
  /** Clients must send this password (cleartext auth; the server listens on loopback). Unset: no password. */
  password?: string;
}

const PASSWORD_MESSAGE = 0x70; // 'p'

/** AuthenticationCleartextPassword: R, length 8, code 3. */
const ASK_CLEARTEXT_PASSWORD = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3]);

function samePassword(given: Buffer, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

type Item = { kind: 'startup' | 'msg'; buf: Buffer } | { kind: 'terminate' };

class SessionLock {
  owner: WireConnection | null = null;
  private waiters: { conn: WireConnection; since: number; resolve: (granted: boolean) => void }[] = [];

  acquire(conn: WireConnection): Promise<boolean> {
    if (this.owner === conn) return Promise.resolve(true);
    if (this.owner === null) {
      this.owner = conn;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => this.waiters.push({ conn, since: Date.now(), resolve }));
  }

  release(conn: WireConnection): void {
    if (this.owner !== conn) return;
    this.owner = null;
    const next = this.waiters.shift();
    if (next) {
      this.owner = next.conn;
      next.resolve(true);
    }
  }

  /** Drops a connection's pending acquire (it resolves false). */
  cancel(conn: WireConnection): void {
    const i = this.waiters.findIndex((w) => w.conn === conn);
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(false);
  }

  cancelAll(): void {
    for (const w of this.waiters.splice(0)) w.resolve(false);
  }

  get waiting(): number {
    return this.waiters.length;
  }

  get oldestWaitSince(): number {
    return this.waiters.length ? this.waiters[0].since : Date.now();
  }
}

class WireConnection {
  private readonly framer = new FrontendFramer();
  private items: Item[] = [];
  /** The StartupMessage held back until the client has sent the right password. */
  private awaitingPassword: Buffer | null = null;
  private pumping = false;
  private closed = false;
  private cleanedUp = false;
  /** The client's own names of its live named prepared statements. */
  private readonly statements = new Set<string>();
  private readonly prefix: string;
  /** When this connection last finished a batch while keeping the session. */
  idleSince = Date.now();
  warnedIdle = false;
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(
    readonly id: number,
    private readonly server: PgliteWireServer,
    readonly socket: net.Socket,
  ) {
    this.prefix = `_c${id}_`;
    this.done = new Promise((r) => (this.resolveDone = r));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined); // 'close' follows and does the cleanup
    socket.on('close', () => this.onClose());
  }

  /** Has work queued or running (so it is not idle even if it keeps the session). */
  get busy(): boolean {
    return this.pumping || this.items.length > 0;
  }

  /** Sends an ErrorResponse and closes the connection. */
  fatal(code: string, text: string): void {
    if (this.socket.destroyed) return;
    this.socket.pause();
    this.socket.write(errorResponse('FATAL', code, text), () => this.socket.destroy());
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.framer.push(chunk);
    try {
      for (let pkt = this.framer.next(); pkt; pkt = this.framer.next()) {
        if (pkt.type === 0) {
          if (!this.onStartupPacket(pkt.buf)) return;
        } else if (this.awaitingPassword) {
          if (!this.onPassword(pkt.type, pkt.buf)) return;
        } else if (pkt.type === MSG.terminate) {
          this.items.push({ kind: 'terminate' });
          this.socket.pause();
          break;
        } else {
          this.items.push({ kind: 'msg', buf: scopeNames(pkt, this.prefix, this.tracker) });
        }
      }
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.fatal('08P01', `protocol violation: ${e.message}`);
      return;
    }
    void this.pump();
  }

  private readonly tracker = {
    onParse: (name: string) => this.statements.add(name),
    onCloseStatement: (name: string) => this.statements.delete(name),
  };

  /** Handles a packet of the startup phase; false when the connection is being closed. */
  private onStartupPacket(buf: Buffer): boolean {
    const code = buf.readInt32BE(4);
    if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
      this.socket.write('N'); // no TLS / GSSAPI on a loopback development server
      return true;
    }
    if (code === CANCEL_REQUEST_CODE) {
      // PGlite has no backend to interrupt; the protocol expects no answer.
      this.socket.destroy();
      return false;
    }
    if (code >>> 16 === 3) {
      this.framer.startupPhase = false;
      if (this.server.password !== undefined) {
        this.awaitingPassword = buf;
        this.socket.write(ASK_CLEARTEXT_PASSWORD);
        return true;
      }
      this.items.push({ kind: 'startup', buf });
      return true;
    }
    this.fatal('0A000', `unsupported frontend protocol ${code >>> 16}.${code & 0xffff}: the embedded server speaks 3.0`);
    return false;
  }

  /** The PasswordMessage: the held StartupMessage goes to PGlite only when the password matches. */
  private onPassword(type: number, buf: Buffer): boolean {
    if (type !== PASSWORD_MESSAGE) {
      this.fatal('08P01', 'expected a password message');
      return false;
    }
    const end = buf.indexOf(0, 5);
    const given = buf.subarray(5, end < 0 ? buf.length : end);
    if (!samePassword(given, this.server.password!)) {
      this.fatal('28P01', 'password authentication failed for user "postgres"');
      return false;
    }
    this.items.push({ kind: 'startup', buf: this.awaitingPassword! });
    this.awaitingPassword = null;
    return true;
  }

  private onClose(): void {
    this.closed = true;
    this.items = [];
    this.server.lock.cancel(this);
    void this.pump();
  }

  private write = (data: Uint8Array): void => {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(Buffer.from(data));
  };

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        if (this.closed) {
          await this.cleanup();
          return;
        }
        const head = this.items[0];
        if (!head) return;
        if (head.kind === 'terminate') {
          this.items = [];
          this.closed = true;
          this.socket.end();
          continue;
        }
        if (!(await this.server.lock.acquire(this)) || this.closed) continue;
        // Everything this connection has sent so far goes in one call (up to a terminate).
        let n = 0;
        const parts: Buffer[] = [];
        if (this.items[0].kind === 'startup') {
          parts.push((this.items[0] as { buf: Buffer }).buf);
          n = 1;
        } else {
          while (n < this.items.length && this.items[n].kind === 'msg') parts.push((this.items[n++] as { buf: Buffer }).buf);
        }
        this.items.splice(0, n);
        await this.server.run(parts.length === 1 ? parts[0] : Buffer.concat(parts), this.write);
        if (this.server.scanner.idleAtBoundary) {
          this.server.lock.release(this);
        } else {
          this.idleSince = Date.now();
          this.warnedIdle = false;
        }
      }
    } catch (e) {
      this.server.logger.warn(`Embedded Postgres: connection #${this.id} failed: ${String((e as Error)?.stack ?? e)}`);
      this.fatal('XX000', `embedded Postgres failed: ${(e as Error)?.message ?? e}`);
      this.closed = true;
      this.items = [];
      await this.cleanup();
    } finally {
      this.pumping = false;
    }
  }

  /** Returns the shared session to a clean state for the next connection. Runs once. */
  private async cleanup(): Promise<void> {
    if (this.cleanedUp) return;
    this.cleanedUp = true;
    const { lock } = this.server;
    lock.cancel(this);
    try {
      const owns = lock.owner === this;
      if (!this.server.sessionUsable || (!owns && this.statements.size === 0)) return;
      if (!owns && !(await lock.acquire(this))) return;
      const discard = () => undefined;
      // CopyFail ends a COPY FROM STDIN (and is ignored otherwise); Sync ends an unfinished
      // extended-query cycle. Then roll back an open transaction and drop named statements.
      await this.server.run(Buffer.concat([frontend.copyFail('client disconnected'), frontend.sync()]), discard);
      if (this.server.inTransaction()) await this.server.run(frontend.query('ROLLBACK'), discard);
      if (this.statements.size > 0) {
        const closes = [...this.statements].map((name) => frontend.closeStatement(this.prefix + name));
        await this.server.run(Buffer.concat([...closes, frontend.sync()]), discard);
      }
    } catch (e) {
      this.server.logger.warn(`Embedded Postgres: cleaning up connection #${this.id} failed: ${(e as Error)?.message ?? e}`);
    } finally {
      lock.release(this);
      this.server.forget(this);
      this.resolveDone();
    }
  }
}

export class PgliteWireServer {
  readonly lock = new SessionLock();
  readonly scanner = new BackendScanner();
  readonly logger: WireServerLogger;
  readonly password: string | undefined;
  private server?: net.Server;
  private readonly connections = new Set<WireConnection>();
  private nextId = 1;
  private db?: PGlite;
  private dbReady: Promise<PGlite>;
  private resolveDb!: (db: PGlite) => void;
  private rejectDb!: (err: Error) => void;
  private stopping = false;
  private watchdog?: NodeJS.Timeout;
  private boundPort = 0;

  constructor(private readonly opts: PgliteWireServerOptions) {
    this.logger = opts.logger;
    this.password = opts.password;
    this.dbReady = new Promise((resolve, reject) => {
      this.resolveDb = resolve;
      this.rejectDb = reject;
    });
    this.dbReady.catch(() => undefined);
  }

  get port(): number {
    return this.boundPort;
  }

  /** False once the server is stopping past its grace period: no more session work. */
  sessionUsable = true;

  /** Binds the port; connections are accepted at once and served once `attach` supplies PGlite. */
  listen(): Promise<number> {
    const { host, port } = this.opts;
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => this.onConnection(socket));
      const onError = (err: NodeJS.ErrnoException) => {
        server.close();
        reject(listenError(err, host, port));
      };
      server.once('error', onError);
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.logger.warn(`Embedded Postgres server error: ${err.message}`));
        this.server = server;
        this.boundPort = (server.address() as net.AddressInfo).port;
        const every = Math.min(1000, Math.max(50, Math.floor(this.warnMs / 5)));
        this.watchdog = setInterval(() => this.checkIdleOwner(), every);
        this.watchdog.unref();
        resolve(this.boundPort);
      });
    });
  }

  attach(db: PGlite): void {
    this.db = db;
    this.resolveDb(db);
  }

  /** Runs protocol bytes on the session; the caller must hold the session lock. */
  async run(buf: Buffer, sink: (data: Uint8Array) => void): Promise<void> {
    const db = this.db ?? (await this.dbReady);
    this.scanner.reset();
    const input = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
    await db.runExclusive(() =>
      db.execProtocolRawStream(input, {
        onRawData: (data) => {
          this.scanner.feed(data);
          sink(data);
        },
      }),
    );
  }

  inTransaction(): boolean {
    return this.db?.isInTransaction() ?? false;
  }

  forget(conn: WireConnection): void {
    this.connections.delete(conn);
  }

  /** Stops accepting, closes every client (rolling back what they left open), waits up to `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.watchdog) clearInterval(this.watchdog);
    const closed = this.server ? new Promise<void>((r) => this.server!.close(() => r())) : Promise.resolve();
    const conns = [...this.connections];
    for (const c of conns) c.socket.destroy();
    if (!this.db) {
      // Never attached: there is no session to clean; let the pumps finish.
      this.sessionUsable = false;
      this.rejectDb(new Error('the embedded Postgres server stopped before the database was open'));
      this.lock.cancelAll();
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      Promise.all(conns.map((c) => c.done)).then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs))),
    ]);
    if (timer) clearTimeout(timer);
    if (timedOut) {
      this.logger.warn(`Embedded Postgres: ${this.connections.size} connection(s) still busy after ${graceMs} ms; closing anyway`);
      this.sessionUsable = false;
      this.lock.cancelAll();
    }
    await closed;
  }

  private get warnMs(): number {
    return this.opts.idleInTransactionWarnMs ?? 5000;
  }

  private onConnection(socket: net.Socket): void {
    const max = this.opts.maxConnections ?? 100;
    if (this.stopping) {
      socket.destroy();
      return;
    }
    if (this.connections.size >= max) {
      socket.on('error', () => undefined);
      socket.end(errorResponse('FATAL', '53300', `sorry, too many clients already (the embedded Postgres accepts ${max} connections)`));
      return;
    }
    this.connections.add(new WireConnection(this.nextId++, this, socket));
  }

  /**
   * PGlite runs one transaction at a time: a connection that holds a transaction open and sends
   * nothing blocks every other connection (for ever, if the application waits on one of them).
   */
  private checkIdleOwner(): void {
    const owner = this.lock.owner;
    if (!owner || owner.busy || this.lock.waiting === 0) return;
    const idleFor = Date.now() - Math.max(owner.idleSince, this.lock.oldestWaitSince);
    const timeoutMs = this.opts.idleInTransactionTimeoutMs ?? 60_000;
    const what = `connection #${owner.id} has been idle in a transaction for ${Math.round(idleFor / 1000)} s while ${this.lock.waiting} other connection(s) wait (PGlite runs one transaction at a time; do not keep a transaction open while waiting for another connection or a slow call)`;
    if (timeoutMs > 0 && idleFor >= timeoutMs) {
      this.logger.warn(`Embedded Postgres: ${what}; closing it and rolling back`);
      owner.fatal('25P03', 'terminating connection due to idle-in-transaction timeout (embedded Postgres: other connections were waiting)');
    } else if (idleFor >= this.warnMs && !owner.warnedIdle) {
      owner.warnedIdle = true;
      this.logger.warn(`Embedded Postgres: ${what}`);
    }
  }
}

function listenError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  const where = `${host}:${port}`;
  let text: string;
  switch (err.code) {
    case 'EADDRINUSE':
      text = `Embedded Postgres cannot listen on ${where}: port ${port} is already in use. Choose another port (0 picks a free one) or stop whatever is using it.`;
      break;
    case 'EACCES':
      text = `Embedded Postgres cannot listen on ${where}: permission denied for port ${port}.`;
      break;
    case 'EADDRNOTAVAIL':
      text = `Embedded Postgres cannot listen on ${where}: address ${host} is not available on this machine.`;
      break;
    default:
      text = `Embedded Postgres cannot listen on ${where}: ${err.message}`;
  }
  const out = new Error(text) as NodeJS.ErrnoException;
  out.code = err.code;
  out.cause = err;
  return out;
}
