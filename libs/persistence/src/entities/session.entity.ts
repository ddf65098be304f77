import { Column, CreateDateColumn, Entity, ForeignKey, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { TaskEntity } from './task.entity';
import { AccountEntity } from './account.entity';
import type { ToolDefinition, WindowSpec } from '@so/domain';

export type SessionRole = 'standalone' | 'master' | 'child';
export type SessionStatus = 'active' | 'parked' | 'closed';

export interface SessionPolicyColumn {
  auto_compact: boolean;
  trigger_tokens: number;
  preserve_len: number;
  keep_rounds: number;
  compress_ratio: number;
  /** The session's spend budget as set at creation (the counters live in `budgets`). */
  budget?: { usd: number | null; tokens: number | null; period: string };
}

/** History a fork shares with its source instead of copying it: seqs [fromSeq, toSeq] of sessionId. */
export interface HistoryBase {
  sessionId: string;
  fromSeq: number;
  toSeq: number;
}

/** A pinned fragment version; name and tokens are frozen at pin time so the prefix stays byte-identical. */
export interface FragmentRef {
  id: string;
  version: number;
  name: string;
  tokens: number;
}

/** A durable conversation. The window is a small value (`window`); history lives in `messages`. */
@Entity('sessions')
@Index('sessions_account_id_idx', ['accountId', 'id'])
@Index('sessions_parent_id_idx', ['parentId'])
@Index('sessions_root_id_idx', ['rootId'])
@Index('sessions_task_id_idx', ['taskId'])
export class SessionEntity {
  @PrimaryColumn('uuid')
  id: string;

  @ForeignKey(() => AccountEntity)
  @Column('uuid', { name: 'account_id' })
  accountId: string;

  @ForeignKey(() => SessionEntity)
  @Column('uuid', { name: 'parent_id', nullable: true })
  parentId: string | null;

  @ForeignKey(() => SessionEntity)
  @Column('uuid', { name: 'root_id' })
  rootId: string;

  @ForeignKey(() => TaskEntity, { deferrable: 'INITIALLY DEFERRED' })
  @Column('uuid', { name: 'task_id', nullable: true })
  taskId: string | null;

  @Column('text', { default: 'standalone' })
  role: SessionRole;

  @Column('text', { default: 'active' })
  status: SessionStatus;

  @Column('text', { nullable: true })
  title: string | null;

  @Column('jsonb')
  metadata: Record<string, string>;

  @Column('text')
  model: string;

  @Column('text', { nullable: true })
  system: string | null;

  @Column('integer', { name: 'system_tokens', default: 0 })
  systemTokens: number;

  @Column('jsonb', { nullable: true })
  tools: ToolDefinition[] | null;

  @Column('integer', { name: 'tools_tokens', default: 0 })
  toolsTokens: number;

  @Column('jsonb', { name: 'fragment_refs' })
  fragmentRefs: FragmentRef[];

  /** Empty for an ordinary session; a fork reads its inherited history from these. */
  @Column('jsonb', { name: 'history_bases' })
  historyBases: HistoryBase[];

  @Column('jsonb')
  policy: SessionPolicyColumn;

  @Column('jsonb')
  window: WindowSpec;

  /** Estimated tokens of pinned prefix + outlines + recent messages now in the window. */
  @Column('integer', { name: 'window_tokens', default: 0 })
  windowTokens: number;

  @Column('integer', { name: 'last_seq', default: 0 })
  lastSeq: number;

  /** Bumped by every state change; guards read-modify-write across instances. */
  @Column('integer', { default: 0 })
  version: number;

  /** Upstream prompt tokens / our estimate for this session's windows (EMA). */
  @Column('double precision', { name: 'token_calibration', default: 1 })
  tokenCalibration: number;

  @Column('uuid', { name: 'turn_lock_id', nullable: true })
  turnLockId: string | null;

  @Column('timestamptz', { name: 'turn_lock_until', nullable: true })
  turnLockUntil: Date | null;

  @Column('bigint', { name: 'prompt_tokens', default: 0 })
  promptTokens: string;

  @Column('bigint', { name: 'cached_tokens', default: 0 })
  cachedTokens: string;

  @Column('bigint', { name: 'completion_tokens', default: 0 })
  completionTokens: string;

  /** Prompt tokens written to the upstream's prefix cache over every call of this session. */
  @Column('bigint', { name: 'cache_write_tokens', default: 0 })
  cacheWriteTokens: string;

  @Column('numeric', { name: 'cost_usd', precision: 18, scale: 8, default: 0 })
  costUsd: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  @Column('timestamptz', { name: 'closed_at', nullable: true })
  closedAt: Date | null;
}
