import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { TaskChildEntity, TaskChildStatus, TaskEntity, TaskMergeEntity, TaskStatus } from '@so/persistence';

export interface ChildCounts {
  total: number;
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

/** Tasks, their children and the merge ledger. */
@Injectable()
export class TasksRepository {
  constructor(private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  async insertTask(m: EntityManager, t: Partial<TaskEntity>, children: Partial<TaskChildEntity>[]): Promise<void> {
    await m.getRepository(TaskEntity).insert(t as QueryDeepPartialEntity<TaskEntity>);
    for (let i = 0; i < children.length; i += 500) {
      await m.getRepository(TaskChildEntity).insert(children.slice(i, i + 500) as QueryDeepPartialEntity<TaskChildEntity>[]);
    }
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

  findChild(taskId: string, index: number): Promise<TaskChildEntity | null> {
    return this.ds.getRepository(TaskChildEntity).findOne({ where: { taskId, index } });
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
    const qb = this.ds.getRepository(TaskChildEntity).createQueryBuilder().update().set(patch as QueryDeepPartialEntity<TaskChildEntity>)
      .where('task_id = :taskId AND index = :index', { taskId, index });
    if (onlyIfStatus) qb.andWhere('status = ANY(:s)', { s: onlyIfStatus });
    const r = await qb.execute();
    return (r.affected ?? 0) > 0;
  }

  /** Sets the child's session id once; returns the id that won. */
  async claimChildSession(taskId: string, index: number, sessionId: string): Promise<string> {
    await this.ds.query('UPDATE task_children SET session_id = $3 WHERE task_id = $1 AND index = $2 AND session_id IS NULL', [taskId, index, sessionId]);
    const [{ session_id }] = await this.ds.query('SELECT session_id FROM task_children WHERE task_id = $1 AND index = $2', [taskId, index]);
    return session_id;
  }

  async setTaskStatus(id: string, status: TaskStatus, onlyIf: TaskStatus[], extra: Partial<TaskEntity> = {}): Promise<boolean> {
    const r = await this.ds.getRepository(TaskEntity).createQueryBuilder().update()
      .set({ status, ...extra } as QueryDeepPartialEntity<TaskEntity>)
      .where('id = :id AND status = ANY(:onlyIf)', { id, onlyIf }).execute();
    return (r.affected ?? 0) > 0;
  }

  async insertMerge(m: EntityManager, row: Partial<TaskMergeEntity>): Promise<boolean> {
    const r: unknown = await m.query(
      `INSERT INTO task_merges (task_id, child_index, master_session_id, master_seq, child_session_id, snapshot_id, from_seq, to_seq)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (task_id, child_index) DO NOTHING RETURNING task_id`,
      [row.taskId, row.childIndex, row.masterSessionId, row.masterSeq, row.childSessionId, row.snapshotId, row.fromSeq, row.toSeq],
    );
    const rows = Array.isArray(r) && Array.isArray(r[0]) ? r[0] : r;
    return Array.isArray(rows) && rows.length > 0;
  }

  merges(taskId: string): Promise<TaskMergeEntity[]> {
    return this.ds.getRepository(TaskMergeEntity).find({ where: { taskId }, order: { childIndex: 'ASC' } });
  }
}
