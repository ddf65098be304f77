import * as fs from 'fs';
import * as path from 'path';
import type { PGlite } from '@electric-sql/pglite';
import { acquireDataDirLock } from './data-dir-lock';
import { PgliteWireServer } from './pglite-wire-server';

// Embedded Postgres for `npm start` with nothing configured: PGlite (Postgres 18 compiled to WASM)
// keeps its files in `<dataDir>/pgdata` and is served over the Postgres wire protocol on a
// loopback port, so `pg`, TypeORM and the migrations run unchanged against
// postgres://postgres:<password>@127.0.0.1:<port>/postgres (the password is generated and kept with
// the data; another local user cannot connect without it).
//
// PGlite is one Postgres session running one transaction at a time. The server in
// pglite-wire-server.ts lets any number of connections (a pg pool) share it safely: a connection
// owns the session from its first message until the session is idle again, so transactions and
// extended-query cycles never interleave. Consequences for callers: never keep a transaction open
// while waiting on anything slow, and never use a second connection from inside a transaction
// (it waits for the first one; after 60 s idle the holder is closed and rolled back). Session
// settings (SET without LOCAL, LISTEN) are shared by all connections.

export interface EmbeddedPostgresLogger {
  log(msg: string): void;
  warn(msg: string): void;
}

export interface EmbeddedPostgresOptions {
  /** Created if missing. PGlite's files go in `<dataDir>/pgdata`, the lock in `<dataDir>/embedded-postgres.lock`. */
  dataDir: string;
  /** 0 or undefined picks a free port. */
  port?: number;
  /** Default 127.0.0.1. Keep it on loopback: the password goes in cleartext. */
  host?: string;
  /** Required of every client (cleartext auth on loopback). Unset: no password (tests of the wire server only). */
  password?: string;
  logger?: EmbeddedPostgresLogger;
  /** Close a connection left idle in a transaction this long while others wait. 0 = never. Default 60 s. */
  idleInTransactionTimeoutMs?: number;
}

export interface EmbeddedPostgres {
  /** postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  dataDir: string;
  /** Stops the server (open transactions are rolled back) and closes PGlite, flushing to disk. Idempotent. */
  close(): Promise<void>;
}

const defaultLogger: EmbeddedPostgresLogger = {
  log: () => undefined,
  warn: (msg) => console.warn(msg),
};

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const logger = opts.logger ?? defaultLogger;
  const host = opts.host ?? '127.0.0.1';
  const dataDir = path.resolve(opts.dataDir);
  const pgdata = path.join(dataDir, 'pgdata');

  const lock = acquireDataDirLock(dataDir, (m) => logger.warn(m));
  const server = new PgliteWireServer({ host, port: opts.port ?? 0, logger, idleInTransactionTimeoutMs: opts.idleInTransactionTimeoutMs, password: opts.password });
  let db: PGlite | undefined;
  try {
    // Bind first: a busy port fails fast, before PGlite spends a second or two starting.
    const port = await server.listen();
    const fresh = !fs.existsSync(path.join(pgdata, 'PG_VERSION'));
    db = await openPGlite(pgdata);
    server.attach(db);
    const hostPort = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const url = `postgres://postgres${opts.password !== undefined ? `:${encodeURIComponent(opts.password)}` : ''}@${hostPort}/postgres`;
    // The password never goes to a log or the lock file.
    const shown = `postgres://postgres${opts.password !== undefined ? ':***' : ''}@${hostPort}/postgres`;
    lock.annotate(shown);
    logger.log(`Embedded Postgres (PGlite) listening on ${shown}; data in ${pgdata}${fresh ? ' (new database)' : ''}`);

    let closing: Promise<void> | undefined;
    const opened = db;
    return {
      url,
      port,
      dataDir,
      close: () =>
        (closing ??= (async () => {
          try {
            await server.stop();
            await opened.close();
          } finally {
            lock.release();
          }
        })()),
    };
  } catch (e) {
    await server.stop(1000).catch(() => undefined);
    if (db) await db.close().catch(() => undefined);
    lock.release();
    throw e;
  }
}

async function openPGlite(pgdata: string): Promise<PGlite> {
  // The package ships a CommonJS build, so this compiles to a plain require() that works from dist
  // under node. PGlite then loads its WASM with dynamic import(), which Jest only allows with
  // NODE_OPTIONS=--experimental-vm-modules.
  if (process.env.JEST_WORKER_ID !== undefined && !hasVmModulesFlag()) {
    // Without the flag PGlite's import() crashes the Jest process instead of rejecting; fail cleanly.
    throw new Error('PGlite needs NODE_OPTIONS=--experimental-vm-modules to load under Jest');
  }
  const { PGlite } = await import('@electric-sql/pglite');
  try {
    return await PGlite.create(pgdata);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err?.code === 'ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING_FLAG') {
      throw new Error('PGlite could not load its WASM: under Jest run with NODE_OPTIONS=--experimental-vm-modules', { cause: e });
    }
    throw new Error(`Embedded Postgres could not open its data directory ${pgdata}: ${err?.message ?? e}`, { cause: e });
  }
}

function hasVmModulesFlag(): boolean {
  const flag = '--experimental-vm-modules';
  return process.execArgv.includes(flag) || (process.env.NODE_OPTIONS ?? '').split(/\s+/).includes(flag);
}
