import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export type SessionEventType = 'compaction' | 'truncation' | 'snapshot' | 'restore' | 'fork' | 'compression' | 'compaction_fallback' | 'fragments_upgraded' | 'item_deleted';

/** What happened to a session's window, in order: the client-visible log of housekeeping. */
@Entity('session_events')
@Index('session_events_session_idx', ['sessionId', 'id'])
export class SessionEventEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id: string;

  @Column('uuid', { name: 'session_id' })
  sessionId: string;

  @Column('text')
  type: SessionEventType;

  @Column('jsonb')
  data: Record<string, unknown>;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
