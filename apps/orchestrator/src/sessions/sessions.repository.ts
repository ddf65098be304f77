import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager, IsNull } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { SYSTEM_MEMO_MIN_CHARS, WeightBoundedMap, type SeqRange, type StoredMessage, type WindowSpec } from '@so/domain';
import { firstResultRows, insertUsageRowsSql, MessageEntity, runStatement, SessionEntity, Statement, TurnEntity, UsageEventEntity, usageRowsJson } from '@so/persistence';

export interface SessionListFilter {
  status?: string;
  parentId?: string;
  after?: string;
  limit: number;
}

/** commitTurn's statement (prepared, see Statement). */
const COMMIT_TURN = new Statement(
  `WITH upd AS (
         UPDATE sessions SET last_seq = $4, "window" = $5::jsonb, window_tokens = $6, version = $7,
           turn_lock_id = CASE WHEN $24::boolean THEN turn_lock_id END, turn_lock_until = CASE WHEN $24::boolean THEN turn_lock_until END,
           status = $8, prompt_tokens = $9, cached_tokens = $10, completion_tokens = $11, cost_usd = $12, token_calibration = $13,
           cache_write_tokens = COALESCE($22::bigint, cache_write_tokens + $23::bigint), updated_at = now()
         WHERE id = $1 AND turn_lock_id = $2 AND version = $3 RETURNING id
       ), msgs AS (
         INSERT INTO messages (session_id, seq, role, content, name, tool_call_id, tool_calls, tokens, kind, turn_id)
         SELECT upd.id, x.seq, x.role, x.content, x.name, x.tool_call_id, x.tool_calls, x.tokens, x.kind, x.turn_id
         FROM upd CROSS JOIN jsonb_to_recordset($14::jsonb) AS x(seq int, role text, content text, name text, tool_call_id text, tool_calls jsonb, tokens int, kind text, turn_id uuid)
       ), trn AS (
         INSERT INTO turns (id, session_id, idempotency_key, request_hash, first_seq, last_seq, response)
         SELECT $15, upd.id, $16, $17, $18, $19, $20::jsonb FROM upd
       ), ue AS (
         ${insertUsageRowsSql('$21', 'upd')}
       )
       SELECT id FROM upd`,
);

/** Sessions, their history, turns and usage: every SQL statement about a session is here. */
@Injectable()
export class SessionsRepository {
  constructor(private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  async insert(s: Partial<SessionEntity>, m: EntityManager = this.ds.manager): Promise<void> {
    await m.getRepository(SessionEntity).insert(s as QueryDeepPartialEntity<SessionEntity>);
  }

  findForAccount(accountId: string, id: string): Promise<SessionEntity | null> {
    return this.ds.getRepository(SessionEntity).findOne({ where: { id, accountId } });
  }

  list(accountId: string, f: SessionListFilter): Promise<SessionEntity[]> {
    const qb = this.ds.getRepository(SessionEntity).createQueryBuilder('s').where('s.account_id = :accountId', { accountId });
    if (f.status) qb.andWhere('s.status = :status', { status: f.status });
    if (f.parentId) qb.andWhere('s.parent_id = :parentId', { parentId: f.parentId });
    if (f.after) qb.andWhere('s.id < :after', { after: f.after });
    return qb.orderBy('s.id', 'DESC').limit(f.limit + 1).getMany();
  }

  /** The window's outlines (in the listed order) and verbatim messages (by seq); a fork reads shared history from its bases. */
  async windowMessages(session: Pick<SessionEntity, 'id' | 'historyBases'> & Partial<Pick<SessionEntity, 'lastSeq'>>, spec: WindowSpec, m: EntityManager = this.ds.manager, withContent = true): Promise<{ outlines: StoredMessage[]; recent: StoredMessage[] }> {
    // A window that can hold nothing yet (a new session: no outline, no base, every range past the last seq) needs no query.
    if (session.lastSeq !== undefined && !spec.outlineSeqs.length && !(session.historyBases ?? []).length && spec.ranges.every((r) => r.from > session.lastSeq!)) {
      return { outlines: [], recent: [] };
    }
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    const owners = [`session_id = ${p(session.id)}`, ...(session.historyBases ?? []).map((b) => `(session_id = ${p(b.sessionId)} AND seq BETWEEN ${p(b.fromSeq)} AND ${p(b.toSeq)})`)];
    const rangeSql = spec.ranges.map((r: SeqRange) => (r.to === null ? `seq >= ${p(r.from)}` : `seq BETWEEN ${p(r.from)} AND ${p(r.to)}`));
    const where = [
      rangeSql.length ? `(kind = 'message' AND (${rangeSql.join(' OR ')}))` : null,
      `(kind = 'outline' AND seq = ANY(${p(spec.outlineSeqs)}::int[]))`,
    ].filter(Boolean).join(' OR ');
    const rows: MessageRow[] = await m.query(
      `SELECT seq, role, ${withContent ? 'content' : 'NULL AS content'}, name, tool_call_id, tool_calls, tokens, kind FROM messages WHERE (${owners.join(' OR ')}) AND (${where}) ORDER BY seq`,
      params,
    );
    const outlinesBySeq = new Map<number, StoredMessage>();
    const recent: StoredMessage[] = [];
    for (const r of rows) {
      const msg = toStored(r);
      if (msg.kind === 'outline') outlinesBySeq.set(msg.seq, msg);
      else recent.push(msg);
    }
    const outlines = spec.outlineSeqs.map((s) => outlinesBySeq.get(s)).filter((x): x is StoredMessage => !!x);
    return { outlines, recent };
  }

  /** The window's rows without their text: enough to plan a cut (seqs, roles, tokens, tool pairs), cheap at any size. */
  windowShape(session: Pick<SessionEntity, 'id' | 'historyBases'>, spec: WindowSpec): Promise<{ outlines: StoredMessage[]; recent: StoredMessage[] }> {
    return this.windowMessages(session, spec, this.ds.manager, false);
  }

  /** History in seq order, inherited (fork bases) and own. */
  async listMessages(session: Pick<SessionEntity, 'id' | 'historyBases'>, afterSeq: number, limit: number): Promise<MessageEntity[]> {
    const qb = this.ds.getRepository(MessageEntity).createQueryBuilder('m').where('m.seq > :afterSeq', { afterSeq });
    const owners = ['m.session_id = :sid'];
    const params: Record<string, unknown> = { sid: session.id };
    (session.historyBases ?? []).forEach((b, i) => {
      owners.push(`(m.session_id = :b${i} AND m.seq BETWEEN :f${i} AND :t${i})`);
      Object.assign(params, { [`b${i}`]: b.sessionId, [`f${i}`]: b.fromSeq, [`t${i}`]: b.toSeq });
    });
    return qb.andWhere(`(${owners.join(' OR ')})`, params).orderBy('m.seq', 'ASC').limit(limit + 1).getMany();
  }

  findTurnByKey(sessionId: string, key: string): Promise<TurnEntity | null> {
    return this.ds.getRepository(TurnEntity).findOne({ where: { sessionId, idempotencyKey: key } });
  }

  /**
   * The turn's first round trip: takes the turn lock (free or expired), renews the session's idle pool
   * lease, and returns the session row, whether a turn already used `idempotencyKey` and whether any budget
   * covers the session (`budgeted`: false lets its calls skip the reservation), all in one statement. Null when the lock is not free, the
   * session is closed, or it is not this account's.
   * Its commit does not wait for the WAL flush (synchronous_commit off for this statement's transaction,
   * set_config(..., true)): the lock and the lease are leases that lapse on their own, so a database crash
   * that loses them loses nothing, and the turn's commit (commitTurn, durable) flushes them with it.
   * Other connections see the lock at once either way. One fsync per turn instead of two.
   */
  async lockForTurn(accountId: string, sessionId: string, lockId: string, lockTtlMs: number, idleLeaseTtlMs: number, idempotencyKey: string | null = null): Promise<{ session: SessionEntity; hasLease: boolean; keyUsed: boolean; budgeted: boolean } | null> {
    const known = this.systemPrompts.get(sessionId);
    const rows = await runStatement(this.ds, this.turnLockStatement(), [sessionId, accountId, lockId, String(lockTtlMs), String(idleLeaseTtlMs), idempotencyKey, known === undefined]);
    if (!rows.length) return null;
    const row = rows[0];
    const bytes = row.system_bytes === null ? null : Number(row.system_bytes);
    if (known !== undefined) {
      // Left out of the answer: this process has it (a session's system prompt never changes; its size guards that).
      row.system = known.bytes === bytes ? known.text : await this.readSystem(sessionId);
    }
    this.systemPrompts.remember(sessionId, row.system as string | null, bytes);
    return { session: this.sessionFromRow(row), hasLease: row.has_lease === true, keyUsed: row.key_used === true, budgeted: row.budgeted !== false };
  }

  /**
   * Long system prompts of sessions this process has taken a turn lock on. A session's system prompt is
   * set when it is created and never changes, so the lock statement leaves it out once it is known here:
   * a 64K-token prompt is 256 KB that Postgres would otherwise read from TOAST, decompress and send, and
   * this process receive and decode, on every turn (about 1.5 ms of the turn at that size).
   */
  private readonly systemPrompts = new SystemPromptCache();

  private async readSystem(sessionId: string): Promise<string | null> {
    const rows: Array<{ system: string | null }> = await this.ds.query(`SELECT system FROM sessions WHERE id = $1`, [sessionId]);
    return rows[0]?.system ?? null;
  }

  private turnLock?: Statement;

  /** lockForTurn's statement, prepared; its columns are listed from the entity (see Statement). */
  private turnLockStatement(): Statement {
    return (this.turnLock ??= new Statement(
      `WITH lease AS (
         UPDATE session_leases SET expires_at = CASE WHEN holder LIKE 'idle:%' THEN now() + ($5 || ' milliseconds')::interval ELSE expires_at END
         WHERE session_id = $1 AND expires_at > now() RETURNING session_id
       )
       UPDATE sessions SET turn_lock_id = $3, turn_lock_until = now() + ($4 || ' milliseconds')::interval
       WHERE id = $1 AND account_id = $2 AND status <> 'closed' AND (turn_lock_id IS NULL OR turn_lock_until < now())
         AND set_config('synchronous_commit', 'off', true) IS NOT NULL
       RETURNING ${this.ds.getMetadata(SessionEntity).columns.map((c) => (c.databaseName === 'system' ? `CASE WHEN $7::boolean THEN sessions.system END AS system` : `sessions."${c.databaseName}"`)).join(', ')},
         octet_length(sessions.system) AS system_bytes,
         EXISTS (SELECT 1 FROM lease) AS has_lease,
         ($6::text IS NOT NULL AND EXISTS (SELECT 1 FROM turns t WHERE t.session_id = $1 AND t.idempotency_key = $6)) AS key_used,
         EXISTS (SELECT 1 FROM budgets b WHERE (b.scope = 'account' AND b.scope_id = $2) OR (b.scope = 'session' AND b.scope_id = $1)
                   OR (b.scope = 'task' AND b.scope_id = sessions.task_id)) AS budgeted`,
    ));
  }

  /** A raw `sessions` row (snake_case) as the entity, using TypeORM's column metadata. */
  sessionFromRow(row: Record<string, unknown>): SessionEntity {
    const e = new SessionEntity();
    for (const col of this.ds.getMetadata(SessionEntity).columns) (e as unknown as Record<string, unknown>)[col.propertyName] = row[col.databaseName];
    return e;
  }

  /**
   * Commits a turn in ONE statement (atomic on its own): the session update is guarded by the turn
   * lock and the version read at lock time, and the messages, the turn and the usage row are inserted
   * only if that update matched. False when the guard failed (nothing written).
   * `sessions.cache_write_tokens` takes `p.cacheWriteTokens` when the patch carries it (a new total),
   * and otherwise grows by the usage row's cache writes (under the same guard, so exactly once).
   * `keepLock`: the turn lock stays with its holder (who goes on to a compaction), else it is released.
   */
  async commitTurn(
    sessionId: string,
    lockId: string,
    expectedVersion: number,
    messages: Partial<MessageEntity>[],
    p: Partial<SessionEntity>,
    turn: Partial<TurnEntity>,
    usage: Partial<UsageEventEntity> | null,
    keepLock = false,
  ): Promise<boolean> {
    const msgs = JSON.stringify(messages.map((r) => ({ seq: r.seq, role: r.role, content: r.content, name: r.name, tool_call_id: r.toolCallId, tool_calls: r.toolCalls, tokens: r.tokens, kind: r.kind, turn_id: r.turnId })));
    const u = usageRowsJson(usage ? [usage] : []);
    const rows = await runStatement(this.ds, COMMIT_TURN, [
        sessionId, lockId, expectedVersion,
        p.lastSeq, JSON.stringify(p.window), p.windowTokens, p.version, p.status, p.promptTokens, p.cachedTokens, p.completionTokens, p.costUsd, p.tokenCalibration,
        msgs,
        turn.id, turn.idempotencyKey, turn.requestHash, turn.firstSeq, turn.lastSeq, JSON.stringify(turn.response),
        u,
        p.cacheWriteTokens ?? null,
        String(usage?.cacheWriteTokens ?? 0),
        keepLock,
      ]);
    return rows.length > 0;
  }

  /** Whether the turn `turnId` was committed (its row is written in the same statement as its messages). */
  async turnExists(turnId: string): Promise<boolean> {
    const rows: unknown[] = await this.ds.query(`SELECT 1 FROM turns WHERE id = $1`, [turnId]);
    return firstResultRows(rows).length > 0;
  }

  /** Takes the session's turn lock if it is free or expired; false when another turn holds it. */
  async acquireTurnLock(sessionId: string, lockId: string, ttlMs: number): Promise<boolean> {
    const rows: unknown[] = await this.ds.query(
      `UPDATE sessions SET turn_lock_id = $2, turn_lock_until = now() + ($3 || ' milliseconds')::interval
       WHERE id = $1 AND status <> 'closed' AND (turn_lock_id IS NULL OR turn_lock_until < now()) RETURNING id`,
      [sessionId, lockId, String(ttlMs)],
    );
    return firstResultRows(rows).length > 0;
  }

  /** Extends a turn lock this turn still holds; false when it is no longer ours. */
  async renewTurnLock(sessionId: string, lockId: string, ttlMs: number): Promise<boolean> {
    const rows: unknown[] = await this.ds.query(
      `UPDATE sessions SET turn_lock_until = now() + ($3 || ' milliseconds')::interval WHERE id = $1 AND turn_lock_id = $2 RETURNING id`,
      [sessionId, lockId, String(ttlMs)],
    );
    return firstResultRows(rows).length > 0;
  }

  /**
   * Keeps a turn lock alive while its holder works: renewed every third of its lease, so a live turn
   * never loses it and a dead one's lapses within one lease. Stop it when the turn ends.
   */
  holdTurnLock(sessionId: string, lockId: string, ttlMs: number): { stop(): void } {
    let stopped = false;
    const timer = setInterval(() => {
      if (stopped) return;
      this.renewTurnLock(sessionId, lockId, ttlMs)
        .then((ours) => {
          if (!ours) clearInterval(timer);
        })
        .catch(() => undefined); // a missed renewal is retried at the next tick; the lease covers two of them
    }, Math.max(200, Math.floor(ttlMs / 3)));
    timer.unref();
    return {
      stop: () => {
        stopped = true;
        clearInterval(timer);
      },
    };
  }

  async releaseTurnLock(sessionId: string, lockId: string): Promise<void> {
    await this.ds.query(`UPDATE sessions SET turn_lock_id = NULL, turn_lock_until = NULL WHERE id = $1 AND turn_lock_id = $2`, [sessionId, lockId]);
  }

  /** Runs `work` in one transaction with the session row locked; returns null if the lock is no longer ours. */
  async inTurnTransaction<T>(sessionId: string, lockId: string | null, work: (m: EntityManager, s: SessionEntity) => Promise<T>): Promise<T | null> {
    return this.ds.transaction(async (m) => {
      const rows: Array<Record<string, unknown>> = await m.query('SELECT * FROM sessions WHERE id = $1 FOR UPDATE', [sessionId]);
      if (!rows.length) return null;
      const s = this.sessionFromRow(rows[0]);
      if (lockId !== null && s.turnLockId !== lockId) return null;
      return work(m, s);
    });
  }

  async insertMessages(m: EntityManager, rows: Partial<MessageEntity>[]): Promise<void> {
    if (rows.length) await m.getRepository(MessageEntity).insert(rows);
  }

  async insertTurn(m: EntityManager, t: Partial<TurnEntity>): Promise<void> {
    await m.getRepository(TurnEntity).insert(t as QueryDeepPartialEntity<TurnEntity>);
  }

  async insertUsage(m: EntityManager | null, u: Partial<UsageEventEntity>): Promise<void> {
    await (m ?? this.ds.manager).getRepository(UsageEventEntity).insert(u);
  }

  async updateSession(m: EntityManager, id: string, patch: Partial<SessionEntity>): Promise<void> {
    await m.getRepository(SessionEntity).update({ id }, patch as QueryDeepPartialEntity<SessionEntity>);
  }

  /** Whether the task is still running (queued, running or merging). */
  async taskIsLive(taskId: string): Promise<boolean> {
    const rows: unknown[] = await this.ds.query(`SELECT 1 FROM tasks WHERE id = $1 AND status IN ('queued', 'running', 'merging')`, [taskId]);
    return rows.length > 0;
  }

  async close(accountId: string, id: string): Promise<SessionEntity | null> {
    await this.ds.getRepository(SessionEntity).update({ id, accountId, closedAt: IsNull() }, { status: 'closed', closedAt: new Date(), turnLockId: null, turnLockUntil: null });
    return this.findForAccount(accountId, id);
  }
}

interface MessageRow {
  seq: number;
  role: StoredMessage['role'];
  content: string | null;
  name: string | null;
  tool_call_id: string | null;
  tool_calls: StoredMessage['toolCalls'];
  tokens: number;
  kind: StoredMessage['kind'];
}

function toStored(r: MessageRow): StoredMessage {
  return { seq: r.seq, role: r.role, content: r.content, name: r.name, toolCallId: r.tool_call_id, toolCalls: r.tool_calls, tokens: r.tokens, kind: r.kind };
}

export function entityToStored(e: MessageEntity): StoredMessage {
  return { seq: e.seq, role: e.role, content: e.content, name: e.name, toolCallId: e.toolCallId, toolCalls: e.toolCalls, tokens: e.tokens, kind: e.kind };
}

/** System prompts this long or longer are kept (a shorter one costs less to send than to keep; as the window's memo). */
export const SYSTEM_PROMPT_CACHE_MIN_CHARS = SYSTEM_MEMO_MIN_CHARS;

/** Long system prompts by session id, with their size in bytes as Postgres counts it (octet_length); 16M characters at most. */
export class SystemPromptCache {
  private readonly bySession: WeightBoundedMap<string, { text: string; bytes: number }>;

  constructor(maxChars = 16 * 1024 * 1024) {
    this.bySession = new WeightBoundedMap(maxChars);
  }

  get(sessionId: string): { text: string; bytes: number } | undefined {
    return this.bySession.get(sessionId);
  }

  remember(sessionId: string, text: string | null, bytes: number | null): void {
    if (text === null || bytes === null || text.length < SYSTEM_PROMPT_CACHE_MIN_CHARS) this.bySession.delete(sessionId);
    else if (this.bySession.get(sessionId)?.text !== text) this.bySession.set(sessionId, { text, bytes }, text.length);
  }

  get size(): number {
    return this.bySession.size;
  }
}
