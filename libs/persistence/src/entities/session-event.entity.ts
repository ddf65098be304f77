import { Column, CreateDateColumn, Entity, ForeignKey, Index, PrimaryGeneratedColumn } from 'typeorm';
import { SessionEntity } from './session.entity';

export type SessionEventType = 'compaction' | 'truncation' | 'snapshot' | 'restore' | 'fork' | 'compression' | 'compaction_fallback' | 'fragments_upgraded' | 'item_deleted';

/** What happened to a session's window, in order: the client-visible log of housekeeping. */
@Entity('session_events')
@Index('session_events_session_idx', ['sessionId', 'id'])
export class SessionEventEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id: string;

  @ForeignKey(() => SessionEntity)
  @Column('uuid', { name: 'session_id' })
  sessionId: string;

  @Column('text')
  type: SessionEventType;

  @Column('jsonb')
  data: Record<string, unknown>;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
