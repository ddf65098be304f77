import { DataSource, DataSourceOptions } from 'typeorm';
import { ENTITIES } from './entities';
import { MIGRATIONS } from './migrations';

/** TypeORM options for the service and the CLIs: migrations only, never `synchronize`. */
export function dataSourceOptions(url: string, extra: { poolSize?: number; applicationName?: string; connectTimeoutMs?: number } = {}): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
    poolSize: extra.poolSize ?? 10,
    applicationName: extra.applicationName ?? 'session-orchestrator',
    // A database that does not answer fails a request (503) instead of holding it forever.
    extra: { connectionTimeoutMillis: extra.connectTimeoutMs ?? 5000 },
  };
}

export async function openDataSource(url: string, extra?: { poolSize?: number; applicationName?: string; connectTimeoutMs?: number }): Promise<DataSource> {
  const ds = new DataSource(dataSourceOptions(url, extra));
  await ds.initialize();
  return ds;
}
