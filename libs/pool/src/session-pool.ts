import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';

export type LeaseKind = 'idle' | 'worker';

export interface PoolOptions {
  /** This process, so its job-held leases can be heartbeated (and abandoned when it dies). */
  instanceId: string;
  /** REST sessions: the slot is released after this long without use (the session is parked). */
  idleTtlMs: number;
  /** Job-held slots: renewed by heartbeat; a dead worker's slots come back after this long. */
  workerTtlMs: number;
  /** Polling while waiting for a slot: first and largest interval. */
  pollMs?: number;
  maxPollMs?: number;
  /** Acquirers one account may have waiting at once (across instances); more are refused at once. Default 50. */
  maxWaiters?: number;
}

export interface PoolAccount {
  accountId: string;
  limit: number;
}

export interface AcquireOptions {
  kind: LeaseKind;
  /** 0: fail at once when full. */
  waitMs: number;
  taskId?: string | null;
  /** Caps the task's concurrent slots below the account limit (max_parallel). */
  taskLimit?: number | null;
  /** Caps the slots all tasks of the account hold together (what is left is for interactive sessions). */
  tasksLimit?: number | null;
  signal?: AbortSignal;
}

export class PoolExhaustedError extends Error {
  /** `waitersFull`: the account's line of waiters was full too (at most that many wait at once). */
  constructor(readonly limit: number, readonly retryAfterSeconds: number, readonly waitersFull: number | null = null) {
    super(`All ${limit} session slots of this account are in use${waitersFull !== null ? `, and ${waitersFull} requests already wait for one` : ''}.`);
    this.name = 'PoolExhaustedError';
  }
}

export interface PoolAccountStats {
  account_id: string;
  name: string;
  limit: number;
  in_use: number;
  waiting: number;
  parked: number;
  acquire_wait_ms: { p50: number | null; p99: number | null; samples: number };
  acquired_total: number;
  refused_total: number;
  reclaimed_total: number;
}

const WAIT_SAMPLE_WINDOW = "interval '15 minutes'";
/** Postgres channel of slots given back: the payload is the account id. */
export const POOL_RELEASE_CHANNEL = 'pool_release';

/**
 * Per-account session slots held as leases in Postgres, correct across any number of instances:
 * acquirers of one account are serialized by a row lock on the account, so there is no
 * count-then-insert race. Expired leases are reclaimed by the next acquirer or the reaper.
 */
export class SessionPool {
  private readonly pollMs: number;
  private readonly maxPollMs: number;
  // This instance's waiters per account, oldest first: a slot released here wakes the oldest at once
  // (waiters on other instances notice within their poll interval).
  private readonly localWaiters = new Map<string, Array<() => void>>();

  constructor(private readonly ds: DataSource, private readonly opts: PoolOptions) {
    this.pollMs = opts.pollMs ?? 25;
    this.maxPollMs = opts.maxPollMs ?? 250;
  }

  holderFor(kind: LeaseKind): string {
    return `${kind}:${this.opts.instanceId}`;
  }

  private ttl(kind: LeaseKind): number {
    return kind === 'idle' ? this.opts.idleTtlMs : this.opts.workerTtlMs;
  }

  /**
   * One attempt: true when the session holds a live slot afterwards. One round trip: the function
   * so_pool_try_acquire (migration PoolAcquireFunction) looks without a lock first, then decides under
   * the account's row lock (reclaim expired leases, renew one's own, the limits, insert, counters).
   * `waitMs`: recorded as an acquire-wait sample when the slot is taken (null: no sample).
   */
  async tryAcquire(acc: PoolAccount, sessionId: string, o: Pick<AcquireOptions, 'kind' | 'taskId' | 'taskLimit' | 'tasksLimit'>, waitMs: number | null = null): Promise<boolean> {
    const rows = rowsOf(
      await this.ds.query('SELECT so_pool_try_acquire($1, $2, $3, $4, $5, $6, $7, $8, $9) AS ok', [
        acc.accountId,
        sessionId,
        o.taskId ?? null,
        this.holderFor(o.kind),
        this.ttl(o.kind),
        acc.limit,
        o.taskId && o.taskLimit ? o.taskLimit : null,
        o.taskId && o.tasksLimit ? o.tasksLimit : null,
        waitMs === null ? null : Math.max(0, Math.round(waitMs)),
      ]),
    ) as Array<{ ok: boolean }>;
    return rows[0]?.ok === true;
  }

  /** Acquires a slot, waiting up to waitMs (registered as a waiter meanwhile); PoolExhaustedError when none came free. */
  async acquire(acc: PoolAccount, sessionId: string, o: AcquireOptions): Promise<void> {
    const started = Date.now();
    const deadline = started + o.waitMs;
    let waiterId: string | null = null;
    let waiterUntil = 0;
    let delay = this.pollMs;
    try {
      for (;;) {
        if (await this.tryAcquire(acc, sessionId, o, Date.now() - started)) return;
        if (Date.now() >= deadline || o.signal?.aborted) {
          // A waiter whose caller gave up (a cancelled task) was not refused by the pool.
          if (!o.signal?.aborted) await this.countRefusal(acc.accountId);
          throw new PoolExhaustedError(acc.limit, 1);
        }
        // The waiter row lives for a lease TTL at a time and is renewed while waiting, so a crashed
        // instance's waiters stop counting after that TTL instead of after their whole wait.
        const now = Date.now();
        if (!waiterId) {
          // Joins the line only while the account's line is shorter than maxWaiters: a crowd of
          // waiters costs the database their renewals and wake-ups, and would wait in vain anyway.
          const id = randomUUID();
          const until = Math.min(deadline, now + this.opts.workerTtlMs);
          const joined = rowsOf(
            await this.ds.query(
              `INSERT INTO pool_waiters (id, account_id, until)
               SELECT $1, $2, to_timestamp($3 / 1000.0)
               WHERE (SELECT count(*) FROM pool_waiters w WHERE w.account_id = $2 AND w.until > now()) < $4
               RETURNING id`,
              [id, acc.accountId, until, this.opts.maxWaiters ?? 50],
            ),
          );
          if (!joined.length) {
            await this.countRefusal(acc.accountId);
            throw new PoolExhaustedError(acc.limit, 1, this.opts.maxWaiters ?? 50);
          }
          waiterId = id;
          waiterUntil = until;
        } else if (waiterUntil < deadline && waiterUntil - now < (this.opts.workerTtlMs * 2) / 3) {
          waiterUntil = Math.min(deadline, now + this.opts.workerTtlMs);
          await this.ds.query(
            `INSERT INTO pool_waiters (id, account_id, until) VALUES ($1, $2, to_timestamp($3 / 1000.0)) ON CONFLICT (id) DO UPDATE SET until = EXCLUDED.until`,
            [waiterId, acc.accountId, waiterUntil],
          );
        }
        await this.waitForSlot(acc.accountId, Math.min(delay, Math.max(1, deadline - Date.now())), o.signal);
        delay = Math.min(this.maxPollMs, Math.ceil(delay * 1.5));
      }
    } finally {
      if (waiterId) await this.ds.query('DELETE FROM pool_waiters WHERE id = $1', [waiterId]).catch(() => undefined);
    }
  }

  private async countRefusal(accountId: string): Promise<void> {
    await this.ds.query(
      `INSERT INTO pool_counters (account_id, refused_total) VALUES ($1, 1)
       ON CONFLICT (account_id) DO UPDATE SET refused_total = pool_counters.refused_total + 1`,
      [accountId],
    );
  }

  async release(sessionId: string): Promise<void> {
    // The notification wakes a waiter of this account on any instance listening on POOL_RELEASE_CHANNEL.
    const gone: Array<{ account_id: string }> = rowsOf(
      await this.ds.query(`DELETE FROM session_leases WHERE session_id = $1 RETURNING account_id, pg_notify('${POOL_RELEASE_CHANNEL}', account_id::text)`, [sessionId]),
    ) as never;
    if (gone.length) this.wakeOne(gone[0].account_id);
  }

  /** Wakes this instance's oldest waiter of the account (a slot was given back, here or elsewhere). */
  wakeOne(accountId: string): void {
    const queue = this.localWaiters.get(accountId);
    const wake = queue?.shift();
    if (queue && !queue.length) this.localWaiters.delete(accountId);
    wake?.();
  }

  /** Sleeps until the poll interval passes, a slot of this account is released here, or the caller gives up. */
  private waitForSlot(accountId: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const queue = this.localWaiters.get(accountId) ?? [];
      this.localWaiters.set(accountId, queue);
      const done = () => {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        const i = queue.indexOf(done);
        if (i >= 0) queue.splice(i, 1);
        if (!queue.length && this.localWaiters.get(accountId) === queue) this.localWaiters.delete(accountId);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      queue.push(done);
    });
  }

  /** Renews every job-held lease of this instance; run it every workerTtlMs / 3. */
  async heartbeat(): Promise<number> {
    const r: unknown = await this.ds.query(
      `UPDATE session_leases SET expires_at = now() + ($2 || ' milliseconds')::interval WHERE holder = $1 AND expires_at > now() RETURNING session_id`,
      [this.holderFor('worker'), String(this.opts.workerTtlMs)],
    );
    return rowsOf(r).length;
  }

  /** Reclaims expired leases of every account (a crashed instance's slots, idle sessions' slots). */
  async reapExpired(): Promise<number> {
    const accounts: Array<{ account_id: string }> = await this.ds.query('SELECT DISTINCT account_id FROM session_leases WHERE expires_at < now()');
    let n = 0;
    for (const { account_id } of accounts) {
      // so_pool_reclaim (migration PoolAcquireFunction): the same reclaim an acquire does, under the account lock.
      const [row] = await this.ds.query<Array<{ n: number }>>('SELECT so_pool_reclaim($1) AS n', [account_id]);
      n += row?.n ?? 0;
    }
    await this.ds.query(`DELETE FROM pool_acquire_waits WHERE at < now() - ${WAIT_SAMPLE_WINDOW}`);
    await this.ds.query('DELETE FROM pool_waiters WHERE until < now()');
    return n;
  }


  async stats(accountId?: string): Promise<PoolAccountStats[]> {
    const rows: Array<Record<string, unknown>> = await this.ds.query(
      `SELECT a.id, a.name, a.session_limit,
         (SELECT count(*)::int FROM session_leases l WHERE l.account_id = a.id AND l.expires_at > now()) AS in_use,
         (SELECT count(*)::int FROM pool_waiters w WHERE w.account_id = a.id AND w.until > now()) AS waiting,
         (SELECT count(*)::int FROM sessions s WHERE s.account_id = a.id AND s.status <> 'closed'
            AND NOT EXISTS (SELECT 1 FROM session_leases l WHERE l.session_id = s.id AND l.expires_at > now())) AS parked,
         (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY wait_ms) FROM pool_acquire_waits x WHERE x.account_id = a.id AND x.at > now() - ${WAIT_SAMPLE_WINDOW}) AS p50,
         (SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY wait_ms) FROM pool_acquire_waits x WHERE x.account_id = a.id AND x.at > now() - ${WAIT_SAMPLE_WINDOW}) AS p99,
         (SELECT count(*)::int FROM pool_acquire_waits x WHERE x.account_id = a.id AND x.at > now() - ${WAIT_SAMPLE_WINDOW}) AS samples,
         coalesce(c.acquired_total, 0) AS acquired_total, coalesce(c.refused_total, 0) AS refused_total, coalesce(c.reclaimed_total, 0) AS reclaimed_total
       FROM accounts a LEFT JOIN pool_counters c ON c.account_id = a.id
       ${accountId ? 'WHERE a.id = $1' : ''} ORDER BY a.id`,
      accountId ? [accountId] : [],
    );
    return rows.map((r) => ({
      account_id: String(r.id),
      name: String(r.name),
      limit: Number(r.session_limit),
      in_use: Number(r.in_use),
      waiting: Number(r.waiting),
      parked: Number(r.parked),
      acquire_wait_ms: { p50: r.p50 === null ? null : Math.round(Number(r.p50)), p99: r.p99 === null ? null : Math.round(Number(r.p99)), samples: Number(r.samples) },
      acquired_total: Number(r.acquired_total),
      refused_total: Number(r.refused_total),
      reclaimed_total: Number(r.reclaimed_total),
    }));
  }
}

function rowsOf(result: unknown): unknown[] {
  // TypeORM returns [rows, affected] for UPDATE/DELETE ... RETURNING on postgres.
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0];
  return Array.isArray(result) ? result : [];
}
