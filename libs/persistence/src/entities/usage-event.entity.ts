import { Column, CreateDateColumn, Entity, ForeignKey, Index, PrimaryGeneratedColumn } from 'typeorm';
import { SessionEntity } from './session.entity';
import { AccountEntity } from './account.entity';

export type UsagePurpose = 'chat' | 'passthrough' | 'compress' | 'merge' | 'final';

/** Every upstream call, successful or not: the bill and the latency, never the content. */
@Entity('usage_events')
@Index('usage_events_account_created_idx', ['accountId', 'createdAt'])
@Index('usage_events_session_idx', ['sessionId'])
@Index('usage_events_created_idx', ['createdAt'])
export class UsageEventEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id: string;

  @ForeignKey(() => AccountEntity)
  @Column('uuid', { name: 'account_id' })
  accountId: string;

  @ForeignKey(() => SessionEntity)
  @Column('uuid', { name: 'session_id', nullable: true })
  sessionId: string | null;

  @Column('uuid', { name: 'turn_id', nullable: true })
  turnId: string | null;

  @Column('text')
  purpose: UsagePurpose;

  @Column('text')
  model: string;

  @Column('integer', { name: 'prompt_tokens', default: 0 })
  promptTokens: number;

  @Column('integer', { name: 'cached_tokens', default: 0 })
  cachedTokens: number;

  @Column('integer', { name: 'completion_tokens', default: 0 })
  completionTokens: number;

  /** Prompt tokens the upstream wrote to its prefix cache (billed on their own since October 2026). */
  @Column('integer', { name: 'cache_write_tokens', default: 0 })
  cacheWriteTokens: number;

  @Column('numeric', { name: 'cost_usd', precision: 18, scale: 8, default: 0 })
  costUsd: string;

  @Column('integer', { name: 'latency_ms' })
  latencyMs: number;

  @Column('text', { name: 'upstream_request_id', nullable: true })
  upstreamRequestId: string | null;

  /** `ok` or the error code the call ended with. */
  @Column('text', { default: 'ok' })
  outcome: string;

  @Column('integer', { default: 1 })
  attempts: number;

  /** The token counts are local estimates (the upstream sent no usage, e.g. a stream cut mid-way). */
  @Column('boolean', { name: 'usage_estimated', default: false })
  usageEstimated: boolean;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
