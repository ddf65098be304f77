import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import type { WindowSpec } from '@so/domain';
import { POOL_RELEASE_CHANNEL } from '@so/pool';
import { CompressionEntity, firstResultRows, runStatement, SessionEntity, Statement, TaskChildEntity, TaskChildStatus, TaskEntity, TaskMergeEntity, TaskStatus } from '@so/persistence';

export interface ChildCounts {
  total: number;
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

/** Postgres channel of task progress: the payload is the task id (sent on commit, once per transaction and task). */
export const TASK_EVENTS_CHANNEL = 'task_events';
/** Postgres channel of cancels: the payload is the task id; every instance stops that task's runs at once. */
export const TASK_CANCEL_CHANNEL = 'task_cancel';
const NOTIFY_TASK = `pg_notify('${TASK_EVENTS_CHANNEL}', id::text)`;
const NOTIFY_CHILD = `pg_notify('${TASK_EVENTS_CHANNEL}', task_id::text)`;

/**
 * The account's children that can take a slot now ($1 account, $2 its pool limit, $3 the cap of all its
 * tasks without max_parallel), as the CTE `due_now`: oldest first per task, within each task's max_parallel,
 * the account's free slots and the tasks' share of them.
 */
const DUE_CHILDREN_SQL = `WITH live AS (
         SELECT task_id, count(*)::int AS n FROM session_leases WHERE account_id = $1 AND expires_at > now() GROUP BY task_id
       ), due AS (
         SELECT c.task_id, c.index, c.runs, row_number() OVER (PARTITION BY c.task_id ORDER BY c.index) AS rn,
                COALESCE((t.options->>'max_parallel')::int, 2147483647) - COALESCE(l.n, 0) AS task_free
         FROM task_children c JOIN tasks t ON t.id = c.task_id LEFT JOIN live l ON l.task_id = c.task_id
         WHERE t.account_id = $1 AND t.status IN ('queued', 'running') AND c.status IN ('queued', 'running')
           AND (c.claimed_until IS NULL OR c.claimed_until < now())
       ), due_now AS (
         SELECT task_id, index, runs FROM due WHERE rn <= task_free ORDER BY rn, task_id
         LIMIT GREATEST(0, LEAST(
         $2 - (SELECT COALESCE(sum(n), 0) FROM live),
         -- tasks without max_parallel leave the reserve to interactive sessions
         (CASE WHEN EXISTS (SELECT 1 FROM tasks t WHERE t.account_id = $1 AND t.status IN ('queued', 'running') AND t.options->>'max_parallel' IS NOT NULL)
               THEN $2 ELSE $3 END) - (SELECT COALESCE(sum(n), 0) FROM live WHERE task_id IS NOT NULL)))::int
       )`;

/** A claim's request for the child session's pool slot (a worker lease): see claimChild. */
export interface ChildSlotRequest {
  /** The lease holder (SessionPool.holderFor('worker')) and its TTL. */
  holder: string;
  ttlMs: number;
  /** TASK_POOL_RESERVE_SHARE: the share of the pool tasks without max_parallel leave to interactive sessions. */
  reserveShare: number;
}

/** A child session's own columns; the rest come from its task's master (see startChild). */
export interface ChildSessionRow {
  id: string;
  title: string;
  metadata: Record<string, string>;
  model: string;
  system: string;
  systemTokens: number;
  window: WindowSpec;
}

/** Tasks, their children and the merge ledger. */
@Injectable()
export class TasksRepository {
  constructor(private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  async insertTask(m: EntityManager, t: Partial<TaskEntity>, children: Partial<TaskChildEntity>[]): Promise<void> {
    await m.getRepository(TaskEntity).insert(t);
    for (let i = 0; i < children.length; i += 500) {
      await m.getRepository(TaskChildEntity).insert(children.slice(i, i + 500));
    }
  }

  /** A task whose budget ran out starts no more children: those still queued end cancelled with the reason. */
  async cancelQueuedChildren(taskId: string, reason: string): Promise<void> {
    await this.ds.query(`UPDATE task_children SET status = 'cancelled', error = $2, finished_at = now() WHERE task_id = $1 AND status = 'queued'`, [taskId, reason]);
  }

  findTask(accountId: string, id: string): Promise<TaskEntity | null> {
    return this.ds.getRepository(TaskEntity).findOne({ where: { id, accountId } });
  }

  findTaskById(id: string): Promise<TaskEntity | null> {
    return this.ds.getRepository(TaskEntity).findOne({ where: { id } });
  }

  listTasks(accountId: string, limit: number, after?: string): Promise<TaskEntity[]> {
    const qb = this.ds.getRepository(TaskEntity).createQueryBuilder('t').where('t.account_id = :accountId', { accountId });
    if (after) qb.andWhere('t.id < :after', { after });
    return qb.orderBy('t.id', 'DESC').limit(limit + 1).getMany();
  }

  childrenWithStatus(taskId: string, statuses: TaskChildStatus[]): Promise<TaskChildEntity[]> {
    return this.ds.getRepository(TaskChildEntity).createQueryBuilder('c')
      .where('c.task_id = :taskId AND c.status = ANY(:statuses)', { taskId, statuses }).orderBy('c.index').getMany();
  }

  async counts(taskId: string): Promise<ChildCounts> {
    const rows: Array<{ status: TaskChildStatus; n: number }> = await this.ds.query('SELECT status, count(*)::int AS n FROM task_children WHERE task_id = $1 GROUP BY status', [taskId]);
    const c: ChildCounts = { total: 0, queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
    for (const r of rows) {
      c[r.status] = r.n;
      c.total += r.n;
    }
    return c;
  }

  async updateChild(taskId: string, index: number, patch: Partial<TaskChildEntity>, onlyIfStatus?: TaskChildStatus[]): Promise<boolean> {
    const qb = this.ds.getRepository(TaskChildEntity).createQueryBuilder().update().set(patch)
      .where('task_id = :taskId AND index = :index', { taskId, index });
    if (onlyIfStatus) qb.andWhere('status = ANY(:s)', { s: onlyIfStatus });
    const r = await qb.returning(NOTIFY_CHILD).execute();
    return (r.affected ?? 0) > 0;
  }

  async setTaskStatus(id: string, status: TaskStatus, onlyIf: TaskStatus[], extra: Partial<TaskEntity> = {}): Promise<boolean> {
    const r = await this.ds.getRepository(TaskEntity).createQueryBuilder().update()
      .set({ status, ...extra })
      .where('id = :id AND status = ANY(:onlyIf)', { id, onlyIf }).returning(NOTIFY_TASK).execute();
    return (r.affected ?? 0) > 0;
  }

  findByIdempotencyKey(accountId: string, key: string): Promise<TaskEntity | null> {
    return this.ds.getRepository(TaskEntity).findOne({ where: { accountId, idempotencyKey: key } });
  }

  /**
   * The outbox, read from the rows that make work due: a child is due while it is queued or running in a
   * live task; the final answer is due when a live task has no child queued or running.
   */
  /** Accounts with a live task, and their pool limits: the sweep dispatches each. */
  async accountsWithLiveTasks(): Promise<Array<{ id: string; sessionLimit: number }>> {
    const rows: Array<{ id: string; session_limit: number }> = await this.ds.query(
      `SELECT a.id, a.session_limit FROM accounts a WHERE EXISTS (SELECT 1 FROM tasks t WHERE t.account_id = a.id AND t.status IN ('queued', 'running'))`,
    );
    return rows.map((r) => ({ id: r.id, sessionLimit: r.session_limit }));
  }

  /**
   * The account's children due to run now, as many as its pool has free slots: queued (or whose run's
   * claim lapsed), each task within its max_parallel, taken round-robin across the account's tasks.
   * Children beyond that wait in Postgres, not in the queue, so they hold no worker.
   */
  async dueChildrenOfAccount(accountId: string, poolLimit: number, tasksCap: number): Promise<Array<{ taskId: string; index: number; runs: number }>> {
    const rows: Array<{ task_id: string; index: number; runs: number }> = await this.ds.query(`${DUE_CHILDREN_SQL} SELECT task_id, index, runs FROM due_now`, [accountId, poolLimit, tasksCap]);
    return rows.map((r) => ({ taskId: r.task_id, index: r.index, runs: r.runs }));
  }

  /**
   * After a child gave its slot back, one round trip: how many children of its task are still queued
   * or running (none: the final answer is due) and the account's children that can take a slot now.
   */
  async afterChild(taskId: string, accountId: string, poolLimit: number, tasksCap: number): Promise<{ open: number; due: Array<{ taskId: string; index: number; runs: number }> }> {
    const rows: Array<{ open: number; due: Array<{ task_id: string; index: number; runs: number }> | null }> = await runStatement(this.ds, AFTER_CHILD,
      [accountId, poolLimit, tasksCap, taskId],
    );
    return { open: rows[0]?.open ?? 0, due: (rows[0]?.due ?? []).map((r) => ({ taskId: r.task_id, index: r.index, runs: r.runs })) };
  }

  /**
   * A run takes the child (a lease of ttlMs) if no live run holds it and its task is live; null otherwise.
   * One round trip: the child gets its session id on its first run (`freshSession`), and its task comes
   * back with it. `runs` counts the runs started, this one included. With `slot`, the same statement then
   * asks the account's pool for the child session's slot (so_pool_try_acquire: the account's limit, the
   * task's max_parallel, or for a task without it the account's pool less the interactive reserve share).
   */
  async claimChild(taskId: string, index: number, claimId: string, ttlMs: number, newSessionId: string, slot?: ChildSlotRequest): Promise<{ child: TaskChildEntity; task: TaskEntity; freshSession: boolean; slot: boolean } | null> {
    const [row] = await runStatement(this.ds, CLAIM_CHILD, [taskId, index, claimId, String(ttlMs), newSessionId, slot?.holder ?? null, slot?.ttlMs ?? null, slot?.reserveShare ?? null]);
    if (!row) return null;
    const child = {
      taskId, index: row.index, title: row.title, content: row.content, tokens: row.tokens, status: row.status, sessionId: row.session_id,
      attempts: row.attempts, error: row.error ?? null, startedAt: row.started_at ?? null, finishedAt: row.finished_at ?? null, claimId, claimedUntil: null, runs: row.runs,
    } as TaskChildEntity;
    const task = {
      id: row.t_id, accountId: row.t_account_id, masterSessionId: row.t_master_session_id, status: row.t_status, goal: row.t_goal, model: row.t_model,
      options: row.t_options, total: row.t_total, createdAt: row.t_created_at,
    } as TaskEntity;
    return { child, task, freshSession: row.session_id === newSessionId, slot: row.slot === true };
  }

  /**
   * The child starts (it holds a slot): running, one more attempt, its task running; false when the task
   * was cancelled meanwhile (a slot freed by a cancel must not start a queued child). One round trip,
   * which also creates the child's session on its first run (`session`), under the task's master: it
   * takes the master's root and rolling policy.
   */
  async startChild(taskId: string, index: number, attempts: number, session: ChildSessionRow | null = null): Promise<boolean> {
    const s = session;
    const rows = await runStatement<{ started: number }>(this.ds, START_CHILD, [
      taskId, index, attempts, s?.id ?? null, s?.title ?? null, s ? JSON.stringify(s.metadata) : null, s?.model ?? null, s?.system ?? null, s?.systemTokens ?? null, s ? JSON.stringify(s.window) : null,
    ]);
    return (rows[0]?.started ?? 0) > 0;
  }

  /** The run's heartbeat: renews its claim; answers whether it still holds it and the task's status. */
  async renewClaim(taskId: string, index: number, claimId: string, ttlMs: number): Promise<{ owned: boolean; taskStatus: TaskStatus | null }> {
    const rows: Array<{ owned: boolean; task_status: TaskStatus | null }> = await runStatement(this.ds, RENEW_CLAIM,
      [taskId, index, claimId, String(ttlMs)],
    );
    return { owned: rows[0]?.owned ?? false, taskStatus: rows[0]?.task_status ?? null };
  }

  async dueFinals(limit: number): Promise<string[]> {
    const rows: Array<{ id: string }> = await this.ds.query(
      `SELECT t.id FROM tasks t WHERE t.status IN ('queued', 'running', 'merging')
       AND NOT EXISTS (SELECT 1 FROM task_children c WHERE c.task_id = t.id AND c.status IN ('queued', 'running'))
       AND NOT (t.status = 'merging' AND EXISTS (SELECT 1 FROM session_leases l WHERE l.session_id = t.master_session_id AND l.expires_at > now()))
       ORDER BY t.id LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.id);
  }

  /**
   * Cancel in one transaction: the task, its queued and running children, their sessions and slots.
   * The merge takes the task row FOR SHARE, so no merge commits after this one for a child it counted.
   */
  async cancelTask(id: string): Promise<boolean> {
    return this.ds.transaction(async (m) => {
      const r: unknown = await m.query(
        `UPDATE tasks SET status = 'cancelled', finished_at = now(), updated_at = now() WHERE id = $1 AND status IN ('queued', 'running', 'merging') RETURNING id, ${NOTIFY_TASK}, pg_notify('${TASK_CANCEL_CHANNEL}', id::text)`,
        [id],
      );
      if (firstResultRows(r).length === 0) return false;
      await m.query(`UPDATE task_children SET status = 'cancelled', finished_at = now() WHERE task_id = $1 AND status IN ('queued', 'running')`, [id]);
      await m.query(`UPDATE sessions SET status = 'closed', closed_at = now() WHERE task_id = $1 AND role = 'child' AND status <> 'closed'`, [id]);
      await m.query('DELETE FROM session_leases WHERE task_id = $1', [id]);
      return true;
    });
  }

  /**
   * A child's merge and completion in ONE statement (atomic, one round trip):
   * - the master row is locked (merges of a task serialize on it; the lock re-reads a row that moved on)
   *   and the task row shared-locked against a concurrent cancel (re-read if one committed meanwhile);
   * - unless the task or the child was cancelled: the merge ledger row (the (task, child) key makes a
   *   merge exactly once), and only if it is new, the outline as the master's next message and the
   *   master's window with it (addOutline: the seq appended to outlineSeqs; ranges unchanged), then the
   *   child succeeded and its session closed;
   * - and the child's pool slot given back (waking a waiter of the account on any instance), unless the
   *   master's window is now over `foldAboveTokens`: then the slot is kept for the fold (`released` false).
   * `windowTokens`: the master's window after the merge.
   */
  async mergeChild(
    row: Pick<TaskMergeEntity, 'taskId' | 'childIndex' | 'masterSessionId' | 'childSessionId' | 'snapshotId' | 'fromSeq' | 'toSeq'>,
    outline: { content: string; tokens: number },
    foldAboveTokens: number,
  ): Promise<{ task: TaskStatus; child: TaskChildStatus; fresh: boolean; windowTokens: number; released: boolean } | null> {
    const rows = await runStatement<{ task: TaskStatus; child: TaskChildStatus; fresh: boolean; window_tokens: number; released: boolean }>(this.ds, MERGE_CHILD, [
      row.taskId, row.childIndex, row.masterSessionId, row.childSessionId, row.snapshotId, row.fromSeq, row.toSeq, outline.content, outline.tokens, foldAboveTokens,
    ]);
    const r = rows[0];
    return r ? { task: r.task, child: r.child, fresh: r.fresh, windowTokens: Number(r.window_tokens), released: r.released } : null;
  }

  lastCompression(sessionId: string): Promise<CompressionEntity | null> {
    return this.ds.getRepository(CompressionEntity).findOne({ where: { sessionId }, order: { createdAt: 'DESC' } });
  }

  findSession(id: string): Promise<SessionEntity | null> {
    return this.ds.getRepository(SessionEntity).findOne({ where: { id } });
  }

  async closeSession(sessionId: string): Promise<void> {
    await this.ds.query(`UPDATE sessions SET status = 'closed', closed_at = now() WHERE id = $1 AND status <> 'closed'`, [sessionId]);
  }

  /** A run of the child's job on a worker that died may have left the child's turn lock behind. */
  async clearStaleTurnLock(sessionId: string): Promise<void> {
    await this.ds.query('UPDATE sessions SET turn_lock_id = NULL, turn_lock_until = NULL WHERE id = $1 AND turn_lock_id IS NOT NULL', [sessionId]);
  }

  async parkMaster(sessionId: string): Promise<void> {
    await this.ds.query(`UPDATE sessions SET status = 'parked' WHERE id = $1 AND status = 'active'`, [sessionId]);
  }

  async outlineContent(sessionId: string, seq: number): Promise<string | null> {
    const rows: Array<{ content: string | null }> = await this.ds.query('SELECT content FROM messages WHERE session_id = $1 AND seq = $2', [sessionId, seq]);
    return rows[0]?.content ?? null;
  }

  merges(taskId: string): Promise<TaskMergeEntity[]> {
    return this.ds.getRepository(TaskMergeEntity).find({ where: { taskId }, order: { childIndex: 'ASC' } });
  }
}

/** afterChild: prepared (see Statement). */
const AFTER_CHILD = new Statement(
  `${DUE_CHILDREN_SQL}
       SELECT (SELECT count(*)::int FROM task_children WHERE task_id = $4 AND status IN ('queued', 'running')) AS open,
              (SELECT json_agg(json_build_object('task_id', task_id, 'index', index, 'runs', runs)) FROM due_now) AS due`,
);

/** claimChild: prepared (see Statement). */
const CLAIM_CHILD = new Statement(
  `WITH c AS (
         UPDATE task_children SET claim_id = $3, claimed_until = now() + ($4 || ' milliseconds')::interval, runs = runs + 1, session_id = COALESCE(session_id, $5)
         WHERE task_id = $1 AND index = $2 AND status IN ('queued', 'running') AND (claimed_until IS NULL OR claimed_until < now())
           AND EXISTS (SELECT 1 FROM tasks t WHERE t.id = $1 AND t.status IN ('queued', 'running'))
         RETURNING index, title, content, tokens, status, session_id, attempts, error, started_at, finished_at, runs)
       SELECT c.*, t.id AS t_id, t.account_id AS t_account_id, t.master_session_id AS t_master_session_id, t.status AS t_status, t.goal AS t_goal,
              t.model AS t_model, t.options AS t_options, t.total AS t_total, t.created_at AS t_created_at,
              CASE WHEN $6::text IS NOT NULL THEN so_pool_try_acquire(t.account_id, c.session_id, t.id, $6::text, $7::int, a.session_limit,
                (t.options->>'max_parallel')::int,
                CASE WHEN t.options->>'max_parallel' IS NULL THEN GREATEST(1, floor(a.session_limit * (1 - $8::float8))::int) END, NULL) END AS slot
       FROM c JOIN tasks t ON t.id = $1 JOIN accounts a ON a.id = t.account_id`,
);

/** startChild: prepared (see Statement). */
const START_CHILD = new Statement(
  `WITH t AS (UPDATE tasks SET status = 'running', updated_at = now() WHERE id = $1 AND status = 'queued' RETURNING ${NOTIFY_TASK}),
         c AS (
           UPDATE task_children SET status = 'running', attempts = $3, started_at = COALESCE(started_at, now())
           WHERE task_id = $1 AND index = $2 AND status IN ('queued', 'running')
             AND EXISTS (SELECT 1 FROM tasks WHERE id = $1 AND status IN ('queued', 'running'))
           RETURNING ${NOTIFY_CHILD}
         ), s AS (
           INSERT INTO sessions (id, account_id, parent_id, root_id, task_id, role, status, title, metadata, model, system, system_tokens, tools, tools_tokens,
                                 fragment_refs, history_bases, policy, "window", window_tokens, last_seq, version, token_calibration)
           SELECT $4::uuid, m.account_id, m.id, m.root_id, $1, 'child', 'active', $5::text, $6::jsonb, $7::text, $8::text, $9::int, NULL, 0,
                  '[]'::jsonb, '[]'::jsonb, m.policy, $10::jsonb, $9::int, 0, 0, 1
           FROM sessions m JOIN tasks tk ON tk.master_session_id = m.id
           WHERE tk.id = $1 AND $4::uuid IS NOT NULL AND EXISTS (SELECT 1 FROM c)
           ON CONFLICT (id) DO NOTHING RETURNING id
         )
         SELECT (SELECT count(*)::int FROM c) AS started, (SELECT count(*) FROM t) + (SELECT count(*) FROM s) >= 0 AS written`,
);

/** renewClaim: prepared (see Statement). */
const RENEW_CLAIM = new Statement(
  `WITH renewed AS (
         UPDATE task_children SET claimed_until = now() + ($4 || ' milliseconds')::interval
         WHERE task_id = $1 AND index = $2 AND claim_id = $3 AND status IN ('queued', 'running') RETURNING 1)
       SELECT EXISTS (SELECT 1 FROM renewed) AS owned, (SELECT status FROM tasks WHERE id = $1) AS task_status`,
);

/** mergeChild: prepared (see Statement). */
const MERGE_CHILD = new Statement(
  `WITH m AS (
           SELECT id, last_seq, window_tokens FROM sessions WHERE id = $3::uuid FOR UPDATE
         ), s AS (
           SELECT t.status AS task, c.status AS child FROM tasks t JOIN task_children c ON c.task_id = t.id AND c.index = $2::int WHERE t.id = $1::uuid FOR SHARE OF t
         ), ok AS (
           SELECT m.id, m.last_seq + 1 AS seq FROM m, s WHERE s.task <> 'cancelled' AND s.child <> 'cancelled'
         ), ins AS (
           INSERT INTO task_merges (task_id, child_index, master_session_id, master_seq, child_session_id, snapshot_id, from_seq, to_seq)
           SELECT $1::uuid, $2::int, ok.id, ok.seq, $4::uuid, $5::uuid, $6::int, $7::int FROM ok
           ON CONFLICT (task_id, child_index) DO NOTHING RETURNING master_seq
         ), msg AS (
           INSERT INTO messages (session_id, seq, role, content, tokens, kind) SELECT $3::uuid, ins.master_seq, 'system', $8::text, $9::int, 'outline' FROM ins
         ), upd AS (
           UPDATE sessions x SET last_seq = ins.master_seq, version = x.version + 1, window_tokens = x.window_tokens + $9::int, updated_at = now(),
             "window" = jsonb_set(x."window", '{outlineSeqs}', COALESCE(x."window"->'outlineSeqs', '[]'::jsonb) || to_jsonb(ins.master_seq))
           FROM ins WHERE x.id = $3::uuid RETURNING x.window_tokens
         ), done AS (
           UPDATE task_children SET status = 'succeeded', finished_at = now(), error = NULL, claim_id = NULL, claimed_until = NULL
           WHERE task_id = $1::uuid AND index = $2::int AND status IN ('running', 'queued') AND EXISTS (SELECT 1 FROM ok) RETURNING ${NOTIFY_CHILD}
         ), closed AS (
           UPDATE sessions SET status = 'closed', closed_at = now() WHERE id = $4::uuid AND status <> 'closed' AND EXISTS (SELECT 1 FROM ok) RETURNING id
         ), gone AS (
           DELETE FROM session_leases WHERE session_id = $4::uuid AND EXISTS (SELECT 1 FROM ok)
             AND COALESCE((SELECT window_tokens FROM upd), (SELECT window_tokens FROM m)) <= $10::int
           RETURNING pg_notify('${POOL_RELEASE_CHANNEL}', account_id::text)
         )
         SELECT s.task, s.child, EXISTS (SELECT 1 FROM ins) AS fresh,
                COALESCE((SELECT window_tokens FROM upd), (SELECT window_tokens FROM m)) AS window_tokens,
                EXISTS (SELECT 1 FROM gone) AS released,
                (SELECT count(*) FROM done) + (SELECT count(*) FROM closed) >= 0 AS written
         FROM s`,
);
