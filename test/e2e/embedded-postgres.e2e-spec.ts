// Embedded Postgres (PGlite served over the wire). PGlite loads its WASM with dynamic import(), so
// Jest must run with NODE_OPTIONS=--experimental-vm-modules, e.g.
//   NODE_OPTIONS=--experimental-vm-modules npx jest --selectProjects e2e test/e2e/embedded-postgres.e2e-spec.ts
import { spawn, ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Client, Pool, PoolClient } from 'pg';
import { EmbeddedPostgres, startEmbeddedPostgres } from '@so/persistence/embedded';

const quiet = { log: () => undefined, warn: (m: string) => warnings.push(m) };
const warnings: string[] = [];
const PASSWORD = 'embedded-test-password-0123';

describe('embedded Postgres (PGlite over the wire)', () => {
  let root: string;
  let dataDir: string;
  let db: EmbeddedPostgres;
  let pool: Pool;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'embedded-pg-'));
    dataDir = path.join(root, 'main');
    db = await startEmbeddedPostgres({ dataDir, logger: quiet, idleInTransactionTimeoutMs: 2000, password: PASSWORD });
    pool = new Pool({ connectionString: db.url, max: 5 });
    pool.on('error', () => undefined);
    await pool.query('CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)');
    await pool.query('CREATE TABLE items (id text PRIMARY KEY, note text)');
    await pool.query('INSERT INTO counters VALUES (1, 0)');
  });

  afterAll(async () => {
    await pool?.end().catch(() => undefined);
    await db?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function tx<T>(fn: (c: PoolClient) => Promise<T>, rollback = false): Promise<T> {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c).catch(async (e) => {
        await c.query('ROLLBACK');
        throw e;
      });
      await c.query(rollback ? 'ROLLBACK' : 'COMMIT');
      return out;
    } finally {
      c.release();
    }
  }

  it('serves a url on loopback with a picked port, data under dataDir; the password is in the url only', () => {
    expect(db.url).toBe(`postgres://postgres:${PASSWORD}@127.0.0.1:${db.port}/postgres`);
    expect(db.port).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(dataDir, 'pgdata', 'PG_VERSION'))).toBe(true);
    const lock = fs.readFileSync(path.join(dataDir, 'embedded-postgres.lock'), 'utf8');
    expect(lock).not.toContain(PASSWORD);
  });

  it('refuses a connection without the password or with a wrong one (28P01), and serves the right one', async () => {
    for (const url of [`postgres://postgres@127.0.0.1:${db.port}/postgres`, `postgres://postgres:wrong@127.0.0.1:${db.port}/postgres`]) {
      const c = new Client({ connectionString: url });
      c.on('error', () => undefined);
      const err = await c.connect().then(() => null, (e: { code?: string; message?: string }) => e);
      await c.end().catch(() => undefined);
      expect(err?.code ?? err?.message).toMatch(/28P01|password/);
    }
    const ok = new Client({ connectionString: db.url });
    await ok.connect();
    expect((await ok.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await ok.end();
  });

  it('runs 100 concurrent SELECT ... FOR UPDATE transactions on a pool of 5 with an exact count', async () => {
    await Promise.all(
      Array.from({ length: 100 }, () =>
        tx(async (c) => {
          const { rows } = await c.query('SELECT n FROM counters WHERE id = $1 FOR UPDATE', [1]);
          await c.query('UPDATE counters SET n = $1 WHERE id = $2', [rows[0].n + 1, 1]);
        }),
      ),
    );
    const { rows } = await pool.query('SELECT n FROM counters WHERE id = 1');
    expect(rows[0].n).toBe(100);
  });

  it("a rollback on one connection never erases another connection's committed row", async () => {
    const a = await pool.connect();
    await a.query('BEGIN');
    await a.query("INSERT INTO items VALUES ('rolled-back', 'a')");
    // B commits while A's transaction is open; B must not see A's row nor lose its own.
    const bInsert = pool.query("INSERT INTO items VALUES ('committed', 'b')");
    const bCount = pool.query("SELECT count(*)::int AS n FROM items WHERE id = 'rolled-back'");
    await a.query('ROLLBACK');
    a.release();
    await bInsert;
    expect((await bCount).rows[0].n).toBe(0);
    const { rows } = await pool.query('SELECT id FROM items ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual(['committed']);

    // And under load: every fifth of 50 concurrent transactions rolls back.
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        tx(async (c) => {
          await c.query('INSERT INTO items VALUES ($1, $2)', [`row-${i}`, 'x']);
          await c.query('SELECT id FROM items WHERE id = $1 FOR UPDATE', [`row-${i}`]);
        }, i % 5 === 4),
      ),
    );
    const count = await pool.query("SELECT count(*)::int AS n FROM items WHERE id LIKE 'row-%'");
    expect(count.rows[0].n).toBe(40);
  });

  it('returns the normal pg error for a unique violation and keeps serving', async () => {
    await pool.query("INSERT INTO items VALUES ('dup', 'first')");
    await expect(pool.query('INSERT INTO items VALUES ($1, $2)', ['dup', 'second'])).rejects.toMatchObject({ code: '23505', constraint: 'items_pkey' });
    await expect(tx((c) => c.query('SELECT 1/0'))).rejects.toMatchObject({ code: '22012' });
    const { rows } = await pool.query('SELECT note FROM items WHERE id = $1', ['dup']);
    expect(rows).toEqual([{ note: 'first' }]);
  });

  it('keeps extended-query cycles of concurrent clients apart, even with large parameters', async () => {
    // pglite-socket 0.2.17 interleaves messages of different connections here and binds one
    // client's parameters to another client's statement.
    const results = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        if (i % 2) return (await pool.query('SELECT $1::int + $2::int AS v', [i, 1])).rows[0].v === i + 1;
        const big = `p${i}-${'z'.repeat(200_000)}`;
        return (await pool.query("SELECT $1::text || '!' AS v", [big])).rows[0].v === `${big}!`;
      }),
    );
    expect(results.every(Boolean)).toBe(true);
  });

  it('scopes named prepared statements per connection', async () => {
    const a = await pool.connect();
    const b = await pool.connect();
    try {
      expect((await a.query({ name: 'same', text: 'SELECT $1::int * 2 AS v', values: [21] })).rows[0].v).toBe(42);
      expect((await b.query({ name: 'same', text: "SELECT $1::text || '?' AS v", values: ['hi'] })).rows[0].v).toBe('hi?');
      expect((await a.query({ name: 'same', text: 'SELECT $1::int * 2 AS v', values: [5] })).rows[0].v).toBe(10);
    } finally {
      a.release();
      b.release();
    }
  });

  it('rolls back and frees the session when a client disconnects inside a transaction', async () => {
    const c = new Client({ connectionString: db.url });
    c.on('error', () => undefined);
    await c.connect();
    await c.query('BEGIN');
    await c.query("INSERT INTO items VALUES ('orphan', 'x')");
    (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM items WHERE id = 'orphan'");
    expect(rows[0].n).toBe(0);
  });

  it('closes a connection left idle in a transaction while others wait (instead of hanging)', async () => {
    const holder = await pool.connect();
    const errors: string[] = [];
    holder.on('error', (e: Error & { code?: string }) => errors.push(e.code ?? e.message));
    await holder.query('BEGIN');
    await holder.query("INSERT INTO items VALUES ('held', 'x')");
    const started = Date.now();
    // Deadlock pattern: a second connection used while the first holds the transaction.
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM items WHERE id = 'held'");
    expect(rows[0].n).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(errors).toContain('25P03');
    holder.release(true);
    expect(warnings.some((w) => w.includes('idle in a transaction'))).toBe(true);
  });

  it('refuses a second server on the same data directory, and a busy port, with clear messages', async () => {
    await expect(startEmbeddedPostgres({ dataDir, logger: quiet })).rejects.toThrow(/data directory .*main is already in use by this process .*delete the lock file/);
    await expect(startEmbeddedPostgres({ dataDir: path.join(root, 'other'), port: db.port, logger: quiet })).rejects.toThrow(
      new RegExp(`port ${db.port} is already in use`),
    );
    expect(fs.existsSync(path.join(root, 'other', 'embedded-postgres.lock'))).toBe(false);
  });

  it('keeps the rows across close and restart on the same directory', async () => {
    const before = (await pool.query('SELECT count(*)::int AS n FROM items')).rows[0].n;
    await pool.end();
    await db.close();
    expect(fs.existsSync(path.join(dataDir, 'embedded-postgres.lock'))).toBe(false);

    db = await startEmbeddedPostgres({ dataDir, logger: quiet });
    pool = new Pool({ connectionString: db.url, max: 5 });
    pool.on('error', () => undefined);
    expect((await pool.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(before);
    expect((await pool.query('SELECT n FROM counters WHERE id = 1')).rows[0].n).toBe(100);
  });

  it('honours a lock held by another live process and takes over once it is gone', async () => {
    const dir = path.join(root, 'locked');
    fs.mkdirSync(dir, { recursive: true });
    const other: ChildProcess = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      fs.writeFileSync(path.join(dir, 'embedded-postgres.lock'), JSON.stringify({ pid: other.pid, hostname: os.hostname(), token: 'x', startedAt: '' }));
      await expect(startEmbeddedPostgres({ dataDir: dir, logger: quiet })).rejects.toThrow(new RegExp(`already in use by process ${other.pid}`));
    } finally {
      const exited = new Promise((r) => other.once('exit', r));
      other.kill('SIGKILL');
      await exited;
    }
    const second = await startEmbeddedPostgres({ dataDir: dir, logger: quiet });
    try {
      const c = new Client({ connectionString: second.url });
      await c.connect();
      expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
      await c.end();
      expect(warnings.some((w) => w.includes('taking over stale lock'))).toBe(true);
    } finally {
      await second.close();
    }
  });
});
