import { Client } from 'pg';
import { createScratchDatabase, DEFAULT_ADMIN_DATABASE_URL, SCRATCH_MAX_AGE_MS } from '@so/persistence/cli/scratch-database';

// Scratch databases left by runs killed before their drop are dropped by the next run, on the real server.
describe('scratch databases: a killed run leaves nothing behind for good', () => {
  const prefix = `so_scratchtest${process.pid}`;
  let admin: Client;

  beforeAll(async () => {
    admin = new Client({ connectionString: DEFAULT_ADMIN_DATABASE_URL });
    await admin.connect();
  });
  afterAll(async () => {
    const left = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, [`${prefix}_`]);
    for (const r of left.rows) await admin.query(`DROP DATABASE IF EXISTS "${r.datname}" WITH (FORCE)`);
    await admin.end();
  });

  it('drops its prefix’s databases older than a day, keeps the recent ones and creates its own', async () => {
    const old = `${prefix}_${(Date.now() - SCRATCH_MAX_AGE_MS - 3_600_000).toString(36)}_0a0b0c`;
    const recent = `${prefix}_${(Date.now() - 60_000).toString(36)}_0d0e0f`;
    await admin.query(`CREATE DATABASE "${old}"`);
    await admin.query(`CREATE DATABASE "${recent}"`);

    const db = await createScratchDatabase(DEFAULT_ADMIN_DATABASE_URL, prefix);
    const names = (await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, [`${prefix}_`])).rows.map((r) => r.datname).sort();
    expect(names).toEqual([db.name, recent].sort());

    await db.drop();
    const after = (await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, [`${prefix}_`])).rows.map((r) => r.datname);
    expect(after).toEqual([recent]);
  });
});
