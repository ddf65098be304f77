import { Column, CreateDateColumn, Entity, ForeignKey, Index, PrimaryColumn } from 'typeorm';
import { SessionEntity } from './session.entity';

/** One successful append. Stores the response so a repeated Idempotency-Key replays it. */
@Entity('turns')
@Index('turns_session_idempotency_uq', ['sessionId', 'idempotencyKey'], { unique: true })
export class TurnEntity {
  @PrimaryColumn('uuid')
  id: string;

  @ForeignKey(() => SessionEntity)
  @Column('uuid', { name: 'session_id' })
  sessionId: string;

  @Column('text', { name: 'idempotency_key', nullable: true })
  idempotencyKey: string | null;

  /** Hash of the request body, so a key reused for a different request is refused. */
  @Column('text', { name: 'request_hash' })
  requestHash: string;

  @Column('integer', { name: 'first_seq' })
  firstSeq: number;

  @Column('integer', { name: 'last_seq' })
  lastSeq: number;

  @Column('jsonb')
  response: Record<string, unknown>;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
