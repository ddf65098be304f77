import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../data-source';
import { createScratchDatabase, DEFAULT_ADMIN_DATABASE_URL } from './scratch-database';

/** Applies every migration to a scratch database and returns the SQL TypeORM would still need. */
export async function pendingSchemaChanges(adminUrl = DEFAULT_ADMIN_DATABASE_URL): Promise<{ up: string[]; down: string[] }> {
  const db = await createScratchDatabase(adminUrl, 'so_drift');
  const ds = new DataSource(dataSourceOptions(db.url, { poolSize: 2 }));
  try {
    await ds.initialize();
    await ds.runMigrations({ transaction: 'each' });
    const sql = await ds.driver.createSchemaBuilder().log();
    return {
      up: sql.upQueries.map((q) => q.query),
      down: sql.downQueries.map((q) => q.query).reverse(),
    };
  } finally {
    if (ds.isInitialized) await ds.destroy();
    await db.drop();
  }
}
