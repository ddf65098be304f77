import { Column, CreateDateColumn, Entity, ForeignKey, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { AccountEntity } from './account.entity';

/** A live session's pool slot. Counted per account; an expired row is a slot to reclaim. */
@Entity('session_leases')
@Index('session_leases_account_expires_idx', ['accountId', 'expiresAt'])
@Index('session_leases_holder_idx', ['holder'])
@Index('session_leases_task_id_idx', ['taskId'])
export class SessionLeaseEntity {
  @PrimaryColumn('uuid', { name: 'session_id' })
  sessionId: string;

  @ForeignKey(() => AccountEntity)
  @Column('uuid', { name: 'account_id' })
  accountId: string;

  /** Coordinator task whose child holds the slot (for max_parallel), or null. */
  // No foreign key: a slot is taken before the task (or session) row it is for is committed.
  @Column('uuid', { name: 'task_id', nullable: true })
  taskId: string | null;

  /** `idle:<instance>` for REST sessions (renewed by use), `worker:<instance>` for job-held ones (heartbeat). */
  @Column('text')
  holder: string;

  @Column('timestamptz', { name: 'acquired_at' })
  acquiredAt: Date;

  @Column('timestamptz', { name: 'expires_at' })
  expiresAt: Date;
}

/** Callers waiting for a slot right now (so every instance sees the same `waiting`). */
@Entity('pool_waiters')
@Index('pool_waiters_account_idx', ['accountId', 'until'])
export class PoolWaiterEntity {
  @PrimaryColumn('uuid')
  id: string;

  @ForeignKey(() => AccountEntity)
  @Column('uuid', { name: 'account_id' })
  accountId: string;

  @Column('timestamptz')
  until: Date;
}

/** Acquire wait samples for p50/p99 (pruned to a recent window). */
@Entity('pool_acquire_waits')
@Index('pool_acquire_waits_account_at_idx', ['accountId', 'at'])
export class PoolAcquireWaitEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id: string;

  @ForeignKey(() => AccountEntity)
  @Column('uuid', { name: 'account_id' })
  accountId: string;

  @Column('integer', { name: 'wait_ms' })
  waitMs: number;

  @CreateDateColumn({ type: 'timestamptz' })
  at: Date;
}

/** Per-account counters that outlive leases. */
@Entity('pool_counters')
export class PoolCounterEntity {
  @ForeignKey(() => AccountEntity)
  @PrimaryColumn('uuid', { name: 'account_id' })
  accountId: string;

  @Column('bigint', { name: 'reclaimed_total', default: 0 })
  reclaimedTotal: string;

  @Column('bigint', { name: 'acquired_total', default: 0 })
  acquiredTotal: string;

  @Column('bigint', { name: 'refused_total', default: 0 })
  refusedTotal: string;
}
