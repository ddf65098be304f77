import { Column, CreateDateColumn, Entity, ForeignKey, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { SnapshotEntity } from './snapshot.entity';
import { SessionEntity } from './session.entity';
import { AccountEntity } from './account.entity';

export type TaskStatus = 'queued' | 'running' | 'merging' | 'succeeded' | 'partial' | 'failed' | 'cancelled';
export type TaskChildStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface TaskOptions {
  child: { system: string | null; prompt_template: string | null; max_rounds: number; followup_prompt: string | null };
  merge: { compress_ratio: number; final_prompt: string | null };
  split: { strategy: string; chunk_tokens: number | null };
  max_parallel: number | null;
}

/** A coordinator task: a master session, its children, and the final answer. */
@Entity('tasks')
@Index('tasks_account_idx', ['accountId', 'id'])
@Index('tasks_idempotency_idx', ['accountId', 'idempotencyKey'], { unique: true, where: '"idempotency_key" IS NOT NULL' })
export class TaskEntity {
  @PrimaryColumn('uuid')
  id: string;

  @ForeignKey(() => AccountEntity)
  @Column('uuid', { name: 'account_id' })
  accountId: string;

  @ForeignKey(() => SessionEntity, { deferrable: 'INITIALLY DEFERRED' })
  @Column('uuid', { name: 'master_session_id' })
  masterSessionId: string;

  @Column('text')
  status: TaskStatus;

  @Column('text')
  goal: string;

  @Column('text')
  model: string;

  @Column('jsonb')
  options: TaskOptions;

  @Column('integer')
  total: number;

  @Column('text', { nullable: true })
  result: string | null;

  @Column('text', { nullable: true })
  error: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  @Column('timestamptz', { name: 'finished_at', nullable: true })
  finishedAt: Date | null;

  /** Idempotency-Key of the create request: the same key and body give back this task. */
  @Column('text', { name: 'idempotency_key', nullable: true })
  idempotencyKey: string | null;

  @Column('text', { name: 'request_hash', nullable: true })
  requestHash: string | null;
}

/** One unit of a task's split: what the child session is asked, and how it went. */
@Entity('task_children')
@Index('task_children_task_status_idx', ['taskId', 'status'])
export class TaskChildEntity {
  @ForeignKey(() => TaskEntity)
  @PrimaryColumn('uuid', { name: 'task_id' })
  taskId: string;

  @PrimaryColumn('integer')
  index: number;

  @Column('text')
  title: string;

  @Column('text')
  content: string;

  @Column('integer')
  tokens: number;

  @Column('text')
  status: TaskChildStatus;

  // No foreign key: the run that claims the child names its session before creating it.
  @Column('uuid', { name: 'session_id', nullable: true })
  sessionId: string | null;

  @Column('integer', { default: 0 })
  attempts: number;

  @Column('text', { nullable: true })
  error: string | null;

  @Column('timestamptz', { name: 'started_at', nullable: true })
  startedAt: Date | null;

  @Column('timestamptz', { name: 'finished_at', nullable: true })
  finishedAt: Date | null;

  /** The run that owns the child now (a lease renewed by its heartbeat): at most one run per child at a time. */
  @Column('uuid', { name: 'claim_id', nullable: true })
  claimId: string | null;

  @Column('timestamptz', { name: 'claimed_until', nullable: true })
  claimedUntil: Date | null;

  /** Runs started so far; the job id of the next run carries it, so a run lost with its worker is enqueued anew. */
  @Column('integer', { default: 0 })
  runs: number;
}

/** The merge ledger: a child's outline enters the master exactly once (the primary key enforces it). */
@Entity('task_merges')
export class TaskMergeEntity {
  @ForeignKey(() => TaskEntity)
  @PrimaryColumn('uuid', { name: 'task_id' })
  taskId: string;

  @PrimaryColumn('integer', { name: 'child_index' })
  childIndex: number;

  @ForeignKey(() => SessionEntity, { deferrable: 'INITIALLY DEFERRED' })
  @Column('uuid', { name: 'master_session_id' })
  masterSessionId: string;

  @Column('integer', { name: 'master_seq' })
  masterSeq: number;

  @ForeignKey(() => SessionEntity, { deferrable: 'INITIALLY DEFERRED' })
  @Column('uuid', { name: 'child_session_id' })
  childSessionId: string;

  @ForeignKey(() => SnapshotEntity, { deferrable: 'INITIALLY DEFERRED' })
  @Column('uuid', { name: 'snapshot_id', nullable: true })
  snapshotId: string | null;

  @Column('integer', { name: 'from_seq' })
  fromSeq: number;

  @Column('integer', { name: 'to_seq' })
  toSeq: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
