import { Column, CreateDateColumn, Entity, ForeignKey, Index, PrimaryColumn } from 'typeorm';
import { SessionEntity } from './session.entity';
import { AccountEntity } from './account.entity';

export type ResponseStatus = 'completed' | 'incomplete';

/**
 * A stored Responses API response: which session and turn it is, the seqs its input and output took,
 * and the response object as returned. The session's history holds the messages themselves.
 */
@Entity('responses')
@Index('responses_account_idempotency_uq', ['accountId', 'idempotencyKey'], { unique: true })
@Index('responses_session_idx', ['sessionId'])
export class ResponseEntity {
  /** `resp_...` */
  @PrimaryColumn('text')
  id: string;

  @ForeignKey(() => AccountEntity)
  @Column('uuid', { name: 'account_id' })
  accountId: string;

  @ForeignKey(() => SessionEntity)
  @Column('uuid', { name: 'session_id' })
  sessionId: string;

  @Column('uuid', { name: 'turn_id', nullable: true })
  turnId: string | null;

  /** The request named this session as its `conversation`. */
  @Column('boolean', { name: 'in_conversation', default: false })
  inConversation: boolean;

  @Column('text', { name: 'previous_response_id', nullable: true })
  previousResponseId: string | null;

  /** The session's window right after this response: what a `previous_response_id` fork starts from. */
  @Column('uuid', { name: 'snapshot_id', nullable: true })
  snapshotId: string | null;

  /** Seqs of the input items this request appended (first..last). */
  @Column('integer', { name: 'input_first_seq' })
  inputFirstSeq: number;

  @Column('integer', { name: 'input_last_seq' })
  inputLastSeq: number;

  /** Seq of the reply (the session's last seq after this response). */
  @Column('integer', { name: 'last_seq' })
  lastSeq: number;

  @Column('text')
  status: ResponseStatus;

  @Column('text', { name: 'idempotency_key', nullable: true })
  idempotencyKey: string | null;

  @Column('text', { name: 'request_hash' })
  requestHash: string;

  /** The response object as returned. */
  @Column('jsonb')
  body: Record<string, unknown>;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  /** DELETE /v1/responses/{id}: the record is hidden; the session's history keeps the messages. */
  @Column('timestamptz', { name: 'deleted_at', nullable: true })
  deletedAt: Date | null;
}
