import { Column, CreateDateColumn, Entity, ForeignKey, Index, PrimaryColumn } from 'typeorm';
import { SessionEntity } from './session.entity';
import { AccountEntity } from './account.entity';
import type { WindowSpec } from '@so/domain';
import type { FragmentRef } from './session.entity';

export type SnapshotReason = 'manual' | 'rolling' | 'pre-compress' | 'pre-restore' | 'pre-truncate' | 'fork' | 'response';

/** A window definition at a point in a session: metadata only, so taking one is O(1) in history length. */
@Entity('snapshots')
@Index('snapshots_session_idx', ['sessionId', 'id'])
export class SnapshotEntity {
  @PrimaryColumn('uuid')
  id: string;

  @ForeignKey(() => SessionEntity)
  @Column('uuid', { name: 'session_id' })
  sessionId: string;

  @ForeignKey(() => AccountEntity)
  @Column('uuid', { name: 'account_id' })
  accountId: string;

  @Column('integer', { name: 'at_seq' })
  atSeq: number;

  @Column('jsonb')
  window: WindowSpec;

  @Column('integer', { name: 'window_tokens' })
  windowTokens: number;

  /** The pinned fragment versions at the snapshot, so restore and fork bring back the same prefix. */
  @Column('jsonb', { name: 'fragment_refs', nullable: true })
  fragmentRefs: FragmentRef[] | null;

  @Column('text')
  reason: SnapshotReason;

  @Column('text', { nullable: true })
  label: string | null;

  /** SHA-256 of the share token; the token itself is shown once. */
  @Index('snapshots_share_token_hash_uq', { unique: true })
  @Column('text', { name: 'share_token_hash', nullable: true })
  shareTokenHash: string | null;

  /** When the share token stops working (null: not shared). */
  @Column('timestamptz', { name: 'share_expires_at', nullable: true })
  shareExpiresAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
