import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { dataSourceOptions, MIGRATIONS } from '@so/persistence';
import { createScratchDatabase, DEFAULT_ADMIN_DATABASE_URL } from '@so/persistence/cli/scratch-database';

// Issue 11, item 4: the schema declares its references. The foreign-key migration first looks for
// orphaned rows and stops with their list (changing nothing) instead of failing halfway; once in
// place, the database itself refuses a row that names no parent.

const FK_INDEX = MIGRATIONS.findIndex((m) => m.name.startsWith('ForeignKeys'));

async function migratedUpTo(url: string, count: number): Promise<DataSource> {
  const ds = new DataSource({ ...dataSourceOptions(url, { poolSize: 2 }), migrations: MIGRATIONS.slice(0, count) });
  await ds.initialize();
  await ds.runMigrations({ transaction: 'each' });
  return ds;
}

describe('referential integrity', () => {
  it('stops the foreign-key migration on orphaned rows, naming them, and adds nothing', async () => {
    expect(FK_INDEX).toBeGreaterThan(0);
    const db = await createScratchDatabase(DEFAULT_ADMIN_DATABASE_URL, 'sofk');
    let ds: DataSource | undefined;
    try {
      ds = await migratedUpTo(db.url, FK_INDEX);
      // A message of a session that does not exist (what a bug or a manual delete leaves behind).
      await ds.query(`INSERT INTO messages (session_id, seq, role, content, tokens, kind) VALUES ($1, 1, 'user', 'orphan', 1, 'message')`, [randomUUID()]);
      await ds.destroy();
      ds = new DataSource({ ...dataSourceOptions(db.url, { poolSize: 2 }), migrations: MIGRATIONS });
      await ds.initialize();
      await expect(ds.runMigrations({ transaction: 'each' })).rejects.toThrow(/orphaned rows found: 1 row\(s\) of messages\.session_id name no sessions row/);
      const [{ n }] = await ds.query(`SELECT count(*)::int AS n FROM pg_constraint WHERE contype = 'f'`);
      expect(n).toBe(0);
      // Removing the orphan lets the migration through.
      await ds.query(`DELETE FROM messages WHERE content = 'orphan'`);
      await ds.runMigrations({ transaction: 'each' });
      const [{ n: after }] = await ds.query(`SELECT count(*)::int AS n FROM pg_constraint WHERE contype = 'f'`);
      expect(after).toBeGreaterThanOrEqual(17);
    } finally {
      await ds?.destroy().catch(() => undefined);
      await db.drop();
    }
  });

  it('refuses rows that name no parent once the keys are in place', async () => {
    const db = await createScratchDatabase(DEFAULT_ADMIN_DATABASE_URL, 'sofk');
    let ds: DataSource | undefined;
    try {
      ds = await migratedUpTo(db.url, MIGRATIONS.length);
      await expect(ds.query(`INSERT INTO messages (session_id, seq, role, content, tokens, kind) VALUES ($1, 1, 'user', 'x', 1, 'message')`, [randomUUID()])).rejects.toThrow(/foreign key/);
      await expect(ds.query(`INSERT INTO fragments (id, account_id, name, current_version) VALUES ($1, $2, 'f', 1)`, [randomUUID(), randomUUID()])).rejects.toThrow(/foreign key|null value/);
      await expect(ds.query(`INSERT INTO usage_events (account_id, purpose, model, latency_ms) VALUES ($1, 'chat', 'm', 1)`, [randomUUID()])).rejects.toThrow(/foreign key/);
    } finally {
      await ds?.destroy().catch(() => undefined);
      await db.drop();
    }
  });
});
