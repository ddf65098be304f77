import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { CompressionEntity, SessionEventEntity, SessionEventType, SnapshotEntity, TaskMergeEntity } from '@so/persistence';

/** Snapshots, compressions and the session event log. */
@Injectable()
export class SessionStateRepository {
  constructor(private readonly ds: DataSource) {}

  async insertSnapshot(s: Partial<SnapshotEntity>, m: EntityManager = this.ds.manager): Promise<void> {
    await m.getRepository(SnapshotEntity).insert(s as QueryDeepPartialEntity<SnapshotEntity>);
  }

  findSnapshot(accountId: string, id: string): Promise<SnapshotEntity | null> {
    return this.ds.getRepository(SnapshotEntity).findOne({ where: { id, accountId } });
  }

  findSnapshotByShareHash(id: string, hash: string): Promise<SnapshotEntity | null> {
    return this.ds.getRepository(SnapshotEntity).findOne({ where: { id, shareTokenHash: hash } });
  }

  async setShareHash(id: string, hash: string): Promise<void> {
    await this.ds.getRepository(SnapshotEntity).update({ id }, { shareTokenHash: hash });
  }

  listSnapshots(sessionId: string, limit: number, after?: string): Promise<SnapshotEntity[]> {
    const qb = this.ds.getRepository(SnapshotEntity).createQueryBuilder('s').where('s.session_id = :sessionId', { sessionId });
    if (after) qb.andWhere('s.id > :after', { after });
    return qb.orderBy('s.id', 'ASC').limit(limit + 1).getMany();
  }

  async insertCompression(m: EntityManager, c: Partial<CompressionEntity>): Promise<void> {
    await m.getRepository(CompressionEntity).insert(c as QueryDeepPartialEntity<CompressionEntity>);
  }

  async event(m: EntityManager | null, sessionId: string, type: SessionEventType, data: Record<string, unknown>): Promise<void> {
    await (m ?? this.ds.manager).getRepository(SessionEventEntity).insert({ sessionId, type, data } as QueryDeepPartialEntity<SessionEventEntity>);
  }

  listEvents(sessionId: string, afterId: number, limit: number): Promise<SessionEventEntity[]> {
    return this.ds.getRepository(SessionEventEntity).createQueryBuilder('e')
      .where('e.session_id = :sessionId AND e.id > :afterId', { sessionId, afterId })
      .orderBy('e.id', 'ASC').limit(limit + 1).getMany();
  }

  /** The session and every descendant (children, forks) in one recursive query. */
  async lineage(accountId: string, rootId: string): Promise<Array<{ id: string; parent_id: string | null; role: string; status: string; title: string | null; task_id: string | null; depth: number }>> {
    return this.ds.query(
      `WITH RECURSIVE tree AS (
         SELECT id, parent_id, role, status, title, task_id, 0 AS depth FROM sessions WHERE id = $1 AND account_id = $2
         UNION ALL
         SELECT s.id, s.parent_id, s.role, s.status, s.title, s.task_id, t.depth + 1 FROM sessions s JOIN tree t ON s.parent_id = t.id WHERE s.account_id = $2
       ) SELECT * FROM tree ORDER BY depth, id`,
      [rootId, accountId],
    );
  }

  snapshotsOf(ids: string[]): Promise<SnapshotEntity[]> {
    if (!ids.length) return Promise.resolve([]);
    return this.ds.getRepository(SnapshotEntity).createQueryBuilder('s').where('s.session_id = ANY(:ids)', { ids }).orderBy('s.id').getMany();
  }

  mergesInto(ids: string[]): Promise<TaskMergeEntity[]> {
    if (!ids.length) return Promise.resolve([]);
    return this.ds.getRepository(TaskMergeEntity).createQueryBuilder('m').where('m.master_session_id = ANY(:ids)', { ids }).orderBy('m.master_seq').getMany();
  }

  compressionsOf(ids: string[]): Promise<CompressionEntity[]> {
    if (!ids.length) return Promise.resolve([]);
    return this.ds.getRepository(CompressionEntity).createQueryBuilder('c').where('c.session_id = ANY(:ids)', { ids }).orderBy('c.created_at').getMany();
  }
}
