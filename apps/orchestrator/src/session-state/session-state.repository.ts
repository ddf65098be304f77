import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { CompressionEntity, firstResultRows, SessionEventEntity, SessionEventType, SnapshotEntity } from '@so/persistence';

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
