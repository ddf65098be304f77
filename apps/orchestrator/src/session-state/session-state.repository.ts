import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { CompressionEntity, firstResultRows, insertUsageRowsSql, runStatement, Statement, SessionEventEntity, SessionEventType, SnapshotEntity, usageRowsJson, type SessionEntity, type UsageEventEntity } from '@so/persistence';

export interface LineageRow {
  id: string;
  parent_id: string | null;
  role: string;
  status: string;
  title: string | null;
  task_id: string | null;
  depth: number;
  window_tokens: number;
  prompt_tokens: string | number;
  cached_tokens: string | number;
  completion_tokens: string | number;
  cost_usd: string | number;
  /** Unix seconds. */
  created_at: string | number;
  closed_at: string | number | null;
  /** null when the session has none. */
  snapshots: unknown[] | null;
  outlines: unknown[] | null;
  merged_outlines: unknown[] | null;
}

/** What a compaction writes: the session's new window and totals, its snapshot, outline, compression row and events. */
export interface CompactionWrite {
  session: Pick<SessionEntity, 'lastSeq' | 'window' | 'windowTokens' | 'promptTokens' | 'cachedTokens' | 'cacheWriteTokens' | 'completionTokens' | 'costUsd'>;
  snapshot: Pick<SnapshotEntity, 'id' | 'sessionId' | 'accountId' | 'atSeq' | 'window' | 'windowTokens' | 'fragmentRefs' | 'reason' | 'label'>;
  outline: { seq: number; content: string; tokens: number };
  compression: Pick<CompressionEntity, 'id' | 'sessionId' | 'snapshotId' | 'fromSeq' | 'toSeq' | 'outlineSeq' | 'inputTokens' | 'outputTokens' | 'achievedRatio' | 'targetRatio' | 'method' | 'trigger'>;
  /** In order: ids follow it. */
  events: Array<{ type: SessionEventType; data: Record<string, unknown> }>;
  /** The summarizer calls' usage rows, written with the compaction (LlmGateway deferRecord). */
  usage: Array<Partial<UsageEventEntity>>;
}

/** Snapshots, compressions and the session event log. */
@Injectable()
export class SessionStateRepository {
  constructor(private readonly ds: DataSource) {}

  async insertSnapshot(s: Partial<SnapshotEntity>, m: EntityManager = this.ds.manager): Promise<void> {
    await m.getRepository(SnapshotEntity).insert(s);
  }

  findSnapshot(accountId: string, id: string): Promise<SnapshotEntity | null> {
    return this.ds.getRepository(SnapshotEntity).findOne({ where: { id, accountId } });
  }

  /** The snapshot a share token opens, while the token has not expired (the database clock decides). */
  findSnapshotByShareHash(id: string, hash: string): Promise<SnapshotEntity | null> {
    return this.ds.getRepository(SnapshotEntity).createQueryBuilder('s')
      .where('s.id = :id AND s.share_token_hash = :hash AND s.share_expires_at > now()', { id, hash })
      .getOne();
  }

  /** Replaces any earlier token of the snapshot (it stops working); the expiry is counted from the database clock. */
  async setShareHash(id: string, hash: string, ttlSeconds: number): Promise<Date> {
    const rows = firstResultRows(
      await this.ds.query(`UPDATE snapshots SET share_token_hash = $2, share_expires_at = now() + make_interval(secs => $3) WHERE id = $1 RETURNING share_expires_at`, [id, hash, ttlSeconds]),
    ) as Array<{ share_expires_at: Date }>;
    return new Date(rows[0].share_expires_at);
  }

  /** The token stops working at once; forks already made keep their own copy. */
  async clearShare(id: string): Promise<void> {
    await this.ds.getRepository(SnapshotEntity).update({ id }, { shareTokenHash: null, shareExpiresAt: null });
  }

  listSnapshots(sessionId: string, limit: number, after?: string): Promise<SnapshotEntity[]> {
    const qb = this.ds.getRepository(SnapshotEntity).createQueryBuilder('s').where('s.session_id = :sessionId', { sessionId });
    if (after) qb.andWhere('s.id > :after', { after });
    return qb.orderBy('s.id', 'ASC').limit(limit + 1).getMany();
  }

  async insertCompression(m: EntityManager, c: Partial<CompressionEntity>): Promise<void> {
    await m.getRepository(CompressionEntity).insert(c);
  }

  /**
   * A compaction in ONE statement (atomic on its own, one round trip): the session update is guarded by
   * the turn lock and the version the write was planned from; the snapshot, the outline message, the
   * compression row, the events and the summarizer's usage rows are inserted only if it matched. False when
   * the guard failed (nothing written: the caller then writes the usage rows on their own).
   * `releaseLock`: the commit also releases the turn lock (the compaction was its holder's last step).
   */
  async commitCompaction(m: EntityManager | null, sessionId: string, lockId: string, expectedVersion: number, c: CompactionWrite, releaseLock = false): Promise<boolean> {
    const rows = await runStatement(m ?? this.ds, COMMIT_COMPACTION,
        [
          sessionId, lockId, expectedVersion,
          c.session.lastSeq, JSON.stringify(c.session.window), c.session.windowTokens, c.session.promptTokens, c.session.cachedTokens, c.session.cacheWriteTokens, c.session.completionTokens, c.session.costUsd,
          c.snapshot.id, c.snapshot.accountId, c.snapshot.atSeq, JSON.stringify(c.snapshot.window), c.snapshot.windowTokens, JSON.stringify(c.snapshot.fragmentRefs ?? []), c.snapshot.reason, c.snapshot.label,
          c.outline.content, c.outline.tokens,
          c.compression.id, c.compression.fromSeq, c.compression.toSeq, c.compression.inputTokens, c.compression.outputTokens, c.compression.achievedRatio, c.compression.targetRatio, c.compression.method, c.compression.trigger,
          JSON.stringify(c.events),
          releaseLock,
          usageRowsJson(c.usage),
        ],
    );
    return rows.length > 0;
  }

  /** Whether the compression `id` was committed (its row is written in the compaction's one statement). */
  async compressionExists(id: string): Promise<boolean> {
    const rows: unknown[] = await this.ds.query(`SELECT 1 FROM compressions WHERE id = $1`, [id]);
    return firstResultRows(rows).length > 0;
  }

  async event(m: EntityManager | null, sessionId: string, type: SessionEventType, data: Record<string, unknown>): Promise<void> {
    await (m ?? this.ds.manager).getRepository(SessionEventEntity).insert({ sessionId, type, data } as QueryDeepPartialEntity<SessionEventEntity>);
  }

  listEvents(sessionId: string, afterId: number, limit: number): Promise<SessionEventEntity[]> {
    return this.ds.getRepository(SessionEventEntity).createQueryBuilder('e')
      .where('e.session_id = :sessionId AND e.id > :afterId', { sessionId, afterId })
      .orderBy('e.id', 'ASC').limit(limit + 1).getMany();
  }

  /**
   * The session and every descendant (children, forks), each with its snapshots, outlines and merged
   * child outlines, in ONE query however deep: the tree is recursive, the rest are per-node aggregates
   * served by the (session_id, ...) indexes.
   */
  async lineage(accountId: string, rootId: string): Promise<LineageRow[]> {
    return this.ds.query(
      `WITH RECURSIVE tree AS (
         SELECT id, parent_id, role, status, title, task_id, window_tokens, prompt_tokens, cached_tokens, completion_tokens, cost_usd, created_at, closed_at, 0 AS depth
         FROM sessions WHERE id = $1 AND account_id = $2
         UNION ALL
         SELECT s.id, s.parent_id, s.role, s.status, s.title, s.task_id, s.window_tokens, s.prompt_tokens, s.cached_tokens, s.completion_tokens, s.cost_usd, s.created_at, s.closed_at, t.depth + 1
         FROM sessions s JOIN tree t ON s.parent_id = t.id WHERE s.account_id = $2
       ), snaps AS (
         SELECT x.session_id, json_agg(json_build_object(
           'id', x.id, 'object', 'session.snapshot', 'session_id', x.session_id, 'at_seq', x.at_seq, 'window_tokens', x.window_tokens,
           'reason', x.reason, 'label', x.label, 'shared', x.share_token_hash IS NOT NULL AND x.share_expires_at > now(),
           'share_expires_at', CASE WHEN x.share_token_hash IS NOT NULL THEN floor(extract(epoch FROM x.share_expires_at))::bigint END,
           'created_at', floor(extract(epoch FROM x.created_at))::bigint
         ) ORDER BY x.id) AS j
         FROM snapshots x JOIN tree t ON x.session_id = t.id GROUP BY x.session_id
       ), comps AS (
         SELECT c.session_id, json_agg(json_build_object(
           'outline_seq', c.outline_seq, 'session_id', c.session_id, 'snapshot_id', c.snapshot_id, 'seq_range', json_build_array(c.from_seq, c.to_seq),
           'input_tokens', c.input_tokens, 'output_tokens', c.output_tokens, 'achieved_ratio', c.achieved_ratio, 'method', c.method, 'trigger', c.trigger
         ) ORDER BY c.created_at) AS j
         FROM compressions c JOIN tree t ON c.session_id = t.id GROUP BY c.session_id
       ), merges AS (
         SELECT m.master_session_id, json_agg(json_build_object(
           'master_seq', m.master_seq, 'child_index', m.child_index, 'child_session_id', m.child_session_id, 'snapshot_id', m.snapshot_id,
           'seq_range', json_build_array(m.from_seq, m.to_seq)
         ) ORDER BY m.master_seq) AS j
         FROM task_merges m JOIN tree t ON t.role = 'master' AND m.task_id = t.task_id AND m.master_session_id = t.id GROUP BY m.master_session_id
       )
       SELECT t.id, t.parent_id, t.role, t.status, t.title, t.task_id, t.depth,
              t.window_tokens, t.prompt_tokens::bigint AS prompt_tokens, t.cached_tokens::bigint AS cached_tokens, t.completion_tokens::bigint AS completion_tokens,
              t.cost_usd, floor(extract(epoch FROM t.created_at))::bigint AS created_at, floor(extract(epoch FROM t.closed_at))::bigint AS closed_at, snaps.j AS snapshots, comps.j AS outlines, merges.j AS merged_outlines
       FROM tree t
         LEFT JOIN snaps ON snaps.session_id = t.id
         LEFT JOIN comps ON comps.session_id = t.id
         LEFT JOIN merges ON merges.master_session_id = t.id
       ORDER BY t.depth, t.id`,
      [rootId, accountId],
    );
  }

}

/** commitCompaction: prepared (see Statement). */
const COMMIT_COMPACTION = new Statement(
  `WITH upd AS (
           UPDATE sessions SET last_seq = $4, "window" = $5::jsonb, window_tokens = $6, version = version + 1, prompt_tokens = $7, cached_tokens = $8,
             cache_write_tokens = $9, completion_tokens = $10, cost_usd = $11, updated_at = now(),
             turn_lock_id = CASE WHEN $32::boolean THEN NULL ELSE turn_lock_id END, turn_lock_until = CASE WHEN $32::boolean THEN NULL ELSE turn_lock_until END
           WHERE id = $1 AND turn_lock_id = $2 AND version = $3 RETURNING id
         ), snap AS (
           INSERT INTO snapshots (id, session_id, account_id, at_seq, "window", window_tokens, fragment_refs, reason, label)
           SELECT $12::uuid, upd.id, $13::uuid, $14::int, $15::jsonb, $16::int, $17::jsonb, $18::text, $19::text FROM upd RETURNING id
         ), msg AS (
           INSERT INTO messages (session_id, seq, role, content, tokens, kind) SELECT upd.id, $4::int, 'system', $20::text, $21::int, 'outline' FROM upd
         ), comp AS (
           INSERT INTO compressions (id, session_id, snapshot_id, from_seq, to_seq, outline_seq, input_tokens, output_tokens, achieved_ratio, target_ratio, method, "trigger")
           SELECT $22::uuid, upd.id, snap.id, $23::int, $24::int, $4::int, $25::int, $26::int, $27::float8, $28::float8, $29::text, $30::text FROM upd, snap
         ), ev AS (
           INSERT INTO session_events (session_id, type, data)
           SELECT upd.id, e.v->>'type', e.v->'data' FROM upd CROSS JOIN jsonb_array_elements($31::jsonb) WITH ORDINALITY AS e(v, n) ORDER BY e.n
         ), ue AS (
           ${insertUsageRowsSql('$33', 'upd')}
         )
         SELECT id FROM upd`,
);
