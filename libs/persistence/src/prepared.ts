import { createHash } from 'node:crypto';
import type { Pool, PoolClient, QueryResult } from 'pg';
import { QueryFailedError, type DataSource, type EntityManager } from 'typeorm';
import { firstResultRows } from './query-result';

/**
 * A hot-path SQL statement run as a named prepared statement. Postgres then parses it once per
 * connection, and after a few executions binds it to a cached plan: the statements of a turn spent
 * about half their server time in parse and bind (planning a CTE with jsonb_to_recordset), 0.4 ms of a
 * 0.7 ms commit. The name is derived from the text, so one text never meets another under its name.
 * Keep the texts constant (module-level) and their result columns explicit (no `SELECT *` or
 * `RETURNING *`): a prepared statement whose result columns change under it (a migration adding a
 * column while the service runs) fails with "cached plan must not change result type".
 */
export class Statement {
  readonly name: string;
  constructor(readonly text: string) {
    this.name = `so_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
  }
}

/** Data sources whose statements are sent unnamed (embedded PGlite, or DB_PREPARED_STATEMENTS=false). */
const unprepared = new WeakSet<DataSource>();

/**
 * Named statements off for this data source. Needed where one server session is shared by several
 * client connections (the embedded PGlite: a name one connection prepared exists for all of them), and
 * behind a connection pooler that cannot carry them (PgBouncer in transaction mode before 1.21).
 */
export function disablePreparedStatements(ds: DataSource): void {
  unprepared.add(ds);
}

/**
 * Runs `st` with `values` on the data source's pool, or on the transaction of `target` when it is a
 * transaction's EntityManager. Answers the rows (RETURNING rows for an UPDATE/INSERT/DELETE). A failure
 * is TypeORM's QueryFailedError around the driver's error, as `ds.query` throws it.
 */
export async function runStatement<T = Record<string, unknown>>(target: DataSource | EntityManager, st: Statement, values: unknown[]): Promise<T[]> {
  const ds = isDataSource(target) ? target : target.connection;
  if (unprepared.has(ds)) return firstResultRows(await target.query(st.text, values)) as T[];
  const runner = isDataSource(target) ? undefined : target.queryRunner;
  const config = { name: st.name, text: st.text, values };
  let result: QueryResult;
  try {
    if (runner && !runner.isReleased) {
      // Inside a transaction: its own connection (PostgresQueryRunner.connect() answers the pg client).
      const client = (await runner.connect()) as PoolClient;
      result = await client.query(config);
    } else {
      result = await (ds.driver as unknown as { master: Pool }).master.query(config);
    }
  } catch (err) {
    if (err instanceof Error && typeof (err as { code?: unknown }).code === 'string' && !(err instanceof QueryFailedError)) throw new QueryFailedError(st.text, values, err);
    throw err;
  }
  return result.rows as T[];
}

function isDataSource(t: DataSource | EntityManager): t is DataSource {
  return 'driver' in t && 'manager' in t && !('queryRunner' in t);
}
